// postconf: Postfix's settings as `esmtp-inspect selfcheck` reads them.
//
// Inputs: the output of `postconf [-c DIR] -x NAME...` ("name = value" lines,
// values with $name already expanded by Postfix itself, so that we never
// re-implement Postfix's macro expansion), and the values of smtpd_banner,
// inet_interfaces, proxy_interfaces, smtp_bind_address(6) and
// smtpd_tls_chain_files, which have small grammars of their own.
// run_postconf_text() runs postconf with other flags (-M, -xP) and returns
// the text for tools/selfcheck/wiring.h to parse.
//
// Limits: postconf's standard output is read up to kMaxPostconfOutput octets,
// its standard error up to 64 KiB; postconf runs at most `timeout` and is
// killed after that. Lines that are not "name = value" are skipped and
// counted as warnings, never an error: Postfix may print warnings of its own.
//
// Errors: run_postconf() returns nullopt and a message naming the program,
// its exit status and the first line of its standard error.
//
// Thread-safety: pure functions; run_postconf() forks a child.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/net.h"

namespace esmtp::selfcheck {

inline constexpr std::size_t kMaxPostconfOutput = 1 << 20;

using PostconfValues = std::map<std::string, std::string, std::less<>>;

// The value of `name`; "" when postconf did not show it.
std::string postconf_value(const PostconfValues& s, std::string_view name);

// The parameters selfcheck asks for (in this order).
const std::vector<std::string>& postconf_parameters();

// "name = value" lines; a line starting with white space continues the
// previous value (postconf -f folds long lines that way). Values are
// trimmed. Lines without " = " (or "name =" for an empty value) are skipped
// and counted in *skipped when given.
PostconfValues parse_postconf_output(std::string_view text, std::size_t* skipped = nullptr);

// The host name at the start of an smtpd_banner (already expanded): the
// text up to the first space. Empty when the banner is empty.
std::string banner_hostname(std::string_view expanded_banner);

// A syntactically valid fully qualified host name: labels of letters,
// digits and '-', not starting or ending with '-', at least two labels, at
// most 253 octets (a trailing dot is allowed). An asterisk or 'X' mask of a
// firewall ("****", "XXXXXXXX") is not one.
bool is_fqdn(std::string_view name);

// A list parameter of Postfix split at commas and white space.
std::vector<std::string> split_list(std::string_view value);

// One entry of inet_interfaces / proxy_interfaces / smtp_bind_address: an
// address (IPv6 may be in brackets) or a host name Postfix would resolve.
struct InterfaceEntry {
  std::string text;
  std::optional<IpAddress> address;  // set when the entry is an address
};

// inet_interfaces: "all" and "loopback-only" are keywords (returned as
// keyword, entries empty); anything else is a list of entries.
struct Interfaces {
  std::string keyword;  // "all", "loopback-only" or empty
  std::vector<InterfaceEntry> entries;
};
Interfaces parse_interfaces(std::string_view value);

// Is the address in 127.0.0.0/8 or ::1?
bool is_loopback(const IpAddress& address);

// Runs `program [-c config_dir] arguments...` and returns its standard
// output (postconf -M, -P, -xP). nullopt and *error as run_postconf().
std::optional<std::string> run_postconf_text(const std::string& program,
                                             const std::string& config_dir,
                                             const std::vector<std::string>& arguments,
                                             std::chrono::milliseconds timeout, std::string* error);

// Runs `program [-c config_dir] -x names...`. nullopt and *error when it
// cannot be started, is killed by the timeout, or exits non-zero.
std::optional<PostconfValues> run_postconf(const std::string& program,
                                           const std::string& config_dir,
                                           const std::vector<std::string>& names,
                                           std::chrono::milliseconds timeout, std::string* error);

}  // namespace esmtp::selfcheck
