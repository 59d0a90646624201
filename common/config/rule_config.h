// rule_config: the rule and identity-check entries of esmtp-inspect.yaml
// (rules:, identity.checks: and a profile's rules:), read from YAML, set to
// their defaults and printed back, all from the rows of the tables in
// common/rules/rules.h.
//
// Inputs: one map of rules or checks; each entry is a map (action, reply,
// mode and the rule's parameter: max, patterns, characters, deny or the MIME
// limits) or the shorthand `off`. Giving a parameter of a rule that is off by
// default turns it on with its default action. A reply must fit its action
// (4xx for tempfail, 5xx for reject, 421 for disconnect); without one the
// row's default reply is adapted to the action. Errors name the entry's path
// ("profiles[0].rules.recipient_count.max") and its FILE:LINE:COLUMN.
//
// Thread-safety: the functions are reentrant; a RuleReader belongs to one load.
#pragma once

#include <string>
#include <string_view>

#include "common/config/config.h"
#include "common/config/yaml_values.h"

namespace esmtp::cfg {

class RuleReader : public YamlReader {
 public:
  using YamlReader::YamlReader;

  void rules(RuleSet& set, const YAML::Node& n, const std::string& prefix, const YAML::Mark& mark);
  void checks(CheckSet& set, const YAML::Node& n, const std::string& prefix,
              const YAML::Mark& mark);

  static Reply parse_default(std::string_view text);  // aborts on a bad table row
  static Reply default_reply(const RuleInfo& info);
  // Why reply `r` cannot go with action `a`, or nothing.
  static Err reply_fits(Action a, const Reply& r);

 private:
  template <typename Find, typename Read>
  void named(const YAML::Node& n, const std::string& prefix, const YAML::Mark& mark,
             std::string_view plural, std::string_view singular, Find find, Read read);
  bool settings_map(Action& action, const YAML::Node& n, const std::string& path,
                    const YAML::Mark& mark);
  void rule(RuleConfig& r, const RuleInfo& info, const YAML::Node& n, const std::string& path,
            const YAML::Mark& mark);
  void check(CheckConfig& c, const CheckInfo& info, const YAML::Node& n, const std::string& path,
             const YAML::Mark& mark);
  static bool mime_limit(MimeLimits& m, const std::string& key, const YAML::Node& value, Err& e);
  static std::string rule_keys(const RuleInfo& info);
};

// Sets every rule and check of c.defaults to its table row's default.
void set_rule_defaults(Config& c);

// One rule or check as check-config prints it: a flow map of its action,
// parameter, mode and reply.
YAML::Node rule_node(const RuleConfig& r, const RuleInfo& info);
YAML::Node rules_node(const RuleSet& set);
YAML::Node check_node(const CheckConfig& k, const CheckInfo& info);

// What the annotated conf/esmtp-inspect.yaml shows, commented out, for a rule
// that is off by default: its default action and reply, and an example
// parameter where it has no default.
RuleConfig off_rule_example(const RuleConfig& r, const RuleInfo& info);

}  // namespace esmtp::cfg
