// fake_mta: an MtaContext that records what the milter front end tells the
// MTA, for tests that drive MilterConnection without libmilter or sockets
// (tests/unit/milter_connection_test.cc, the golden corpus through the milter
// in tests/corpus/milter_case.cc).
//
// Records, in call order: the replies set (Reply::str()), the header fields
// added ("Name:value", the value as passed, leading blank included) and
// inserted ("POS>Name:value"), the fields removed ("Name#INDEX") and the
// quarantine reasons. Macros are whatever the test puts in `macros`.
//
// Thread-safety: one test thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "milter/milter_connection.h"

namespace esmtp {

struct FakeMta : MtaContext {
  std::map<std::string, std::string> macros;
  std::vector<std::string> replies, headers, quarantines, deleted;

  std::optional<std::string> macro(const char* name) override {
    auto it = macros.find(name);
    if (it == macros.end()) return std::nullopt;
    return it->second;
  }
  bool set_reply(const Reply& r) override {
    replies.push_back(r.str());
    return true;
  }
  bool add_header(std::string_view n, std::string_view v) override {
    headers.push_back(std::string(n) + ":" + std::string(v));
    return true;
  }
  bool insert_header(int position, std::string_view n, std::string_view v) override {
    headers.push_back(std::to_string(position) + ">" + std::string(n) + ":" + std::string(v));
    return true;
  }
  bool delete_header(std::string_view n, int index) override {
    deleted.push_back(std::string(n) + "#" + std::to_string(index));
    return true;
  }
  bool quarantine(std::string_view reason) override {
    quarantines.emplace_back(reason);
    return true;
  }
};

}  // namespace esmtp
