// config_printer: a Config as esmtp-inspect.yaml text. dump_config() is what
// `esmtp-inspect check-config` prints: the effective configuration, every
// setting, rule, check and profile spelled out, so that it loads back to the
// same Config. annotated_default_config() is conf/esmtp-inspect.yaml as
// shipped (`esmtp-inspect default-config`): the built-in defaults with each
// row's help text as comments, wrapped at 88 columns, and the rules that are
// off by default shown commented out with an example.
//
// Both come from the settings table (settings.h) and the rule and check
// tables (common/rules/rules.h); nothing here lists a setting by name.
//
// Thread-safety: reentrant.
#pragma once

#include <string>

#include "common/config/config.h"

namespace esmtp {

// The effective configuration as YAML, every setting spelled out.
std::string dump_config(const Config& c);

// The annotated default configuration shipped as conf/esmtp-inspect.yaml.
std::string annotated_default_config();

}  // namespace esmtp
