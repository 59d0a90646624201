// verdict_json: a Verdict as a JSON object (the `test --json` entries and the
// body of JSON log lines). Numeric actual/limit are JSON numbers.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/rules/verdict.h"

namespace esmtp {

nlohmann::ordered_json verdict_to_json(const Verdict& v);
// One line of compact JSON; invalid UTF-8 from the network is replaced.
std::string json_line(const nlohmann::ordered_json& j);

}  // namespace esmtp
