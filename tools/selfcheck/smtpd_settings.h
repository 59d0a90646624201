// smtpd_settings: the Postfix settings that decide how an smtpd reaches its
// milters and policy services, parsed as postconf prints them.
//
// Inputs: `postconf -M` (master.cf services, one line each), `postconf -P`
// (their -o overrides as "service/type/parameter = value"), and main.cf or
// -o values: smtpd_milters (unix:, local:, inet: endpoints and the Postfix
// 3.0 "{ endpoint, name = value, ... }" form), restriction lists with
// check_policy_service (plain or braced), and where a unix socket name ends up
// for an smtpd that runs chrooted or not.
//
// Limits: lists are split into at most kMaxListItems elements; nothing here
// touches the file system.
//
// Errors: malformed lines are skipped (and counted where a caller asks);
// an endpoint Postfix would refuse is Endpoint::Kind::kInvalid with Postfix's
// reason in `error`.
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/util/endpoint.h"
#include "tools/selfcheck/postconf.h"

namespace esmtp::selfcheck {

inline constexpr std::size_t kMaxListItems = 1000;

// One master.cf service as `postconf -M` prints it (one line per service, -o
// options on the same line).
struct MasterService {
  std::string name, type, private_, unprivileged, chroot, wakeup, process_limit, command;
  std::vector<std::string> arguments;  // after the command, as printed
  std::string id() const { return name + "/" + type; }
};

// Lines with fewer than 8 fields are skipped (and counted in *skipped).
std::vector<MasterService> parse_master_services(std::string_view postconf_m,
                                                 std::size_t* skipped = nullptr);

// Does the service run chrooted? "y"/"n", and "-" is the default of the
// Postfix version (master(5): n since Postfix 3.0, y before).
bool runs_chrooted(const MasterService& s, std::string_view mail_version);
// "n" in the unprivileged column: the service runs as root.
bool runs_as_root(const MasterService& s);

// `postconf -P` lines "service/type/parameter = value", by service id
// ("submission/inet").
using ServiceOverrides = std::map<std::string, PostconfValues, std::less<>>;
ServiceOverrides parse_service_overrides(std::string_view postconf_p);

// $name, ${name} and $(name) replaced by values[name] ("" when unknown), for
// -o values when postconf cannot expand them itself (-xP). Not Postfix's
// ${name?value} conditionals: those are kept as written.
std::string expand_parameters(std::string_view value, const PostconfValues& values);
// The names expand_parameters() would look up.
std::vector<std::string> referenced_parameters(std::string_view value);

// Elements of a Postfix list: separated by commas and white space, where
// "{ ... }" (nested braces counted) is one element. At most kMaxListItems.
std::vector<std::string> postfix_tokens(std::string_view list);

// "transport:endpoint" as Postfix's milter and policy clients read it:
// parse_endpoint(text, EndpointSyntax::kPostfix) (common/util/endpoint.h),
// with Postfix's complaint in `error`.
using esmtp::Endpoint;
using esmtp::EndpointSyntax;
using esmtp::parse_endpoint;

// A milter or policy server: "unix:x" or "{ unix:x, name = value, ... }".
struct SocketSpec {
  std::string text;  // the list element as written
  Endpoint endpoint;
  std::vector<std::pair<std::string, std::string>> attributes;  // braced form only
  std::string attribute(std::string_view name) const;           // "" when not set
  // The element with another endpoint (and one attribute changed when given).
  std::string rewritten(std::string_view endpoint_text, std::string_view attribute_name = {},
                        std::string_view attribute_value = {}) const;
};
SocketSpec parse_socket_spec(std::string_view element);
std::vector<SocketSpec> parse_milters(std::string_view smtpd_milters);

// One restriction of a list, with its argument when it takes one
// ("check_policy_service unix:x", "check_client_access hash:/etc/x").
struct Restriction {
  std::string name;                  // "permit_mynetworks", "check_policy_service", a class name...
  std::string argument;              // the element after it, for restrictions that take one
  std::optional<SocketSpec> policy;  // check_policy_service
  std::string text() const { return argument.empty() ? name : name + " " + argument; }
  bool unauth_destination() const;  // reject_unauth_destination / defer_unauth_destination
};
std::vector<Restriction> parse_restrictions(std::string_view list);
std::string join_restrictions(const std::vector<Restriction>& list);

// Where a unix socket name used by smtpd is on this host (see above).
std::string socket_host_path(std::string_view name, std::string_view queue_directory,
                             bool chrooted);

// A path without "//", "/./" or a trailing '/' (symlinks are not resolved:
// Postfix does not resolve them either).
std::string tidy_path(std::string_view path);

}  // namespace esmtp::selfcheck
