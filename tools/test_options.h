// test_options: the options of `esmtp-inspect test` (esmtp-inspect(1)) and
// how they become an Envelope and a Config. One definition for the CLI and
// for the golden corpus run through the milter front end
// (tests/corpus/milter_case.cc), so that a case's NAME.args means the same
// to both.
//
// Thread-safety: plain values; call from one thread.
#pragma once

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <string>

#include "common/config/config_loader.h"
#include "tools/offline/offline.h"

namespace esmtp {

inline constexpr const char* kSystemConfig = "/etc/esmtp-inspect/esmtp-inspect.yaml";

struct TestOptions {
  std::string config;
  Envelope env;
  std::string from;
  bool have_from = false;
  bool json = false;
  std::string message;
};

// Adds the `test` subcommand with its options to `app`.
inline CLI::App* add_test_command(CLI::App& app, TestOptions& t) {
  auto* test = app.add_subcommand(
      "test", "Run the engine offline over a message (exit 0 accepted, 1 not accepted, 2 error)");
  test->add_option("--config", t.config,
                   std::string("config file (default ") + kSystemConfig +
                       " when readable, else built-in defaults)");
  test->add_option("--client", t.env.client_address, "client IP address");
  test->add_option("--client-name", t.env.client_name, "client host name (default unknown)");
  test->add_option("--helo", t.env.helo, "HELO/EHLO name");
  test->add_option("--from", t.from, "envelope sender (default: the null sender <>)")
      ->each([&t](const std::string&) { t.have_from = true; });
  test->add_option("--rcpt", t.env.rcpts, "envelope recipient (repeatable)");
  test->add_option("--mail-param", t.env.mail_params, "ESMTP MAIL parameter such as SIZE=1000");
  test->add_option("--auth", t.env.auth_user, "SASL user name (an authenticated session)");
  test->add_option("--tls", t.env.tls_version, "TLS version of the session (default plaintext)");
  test->add_flag("--json", t.json, "print JSON");
  test->add_option("MESSAGE", t.message, "message file, - for standard input")->required();
  return test;
}

// The configuration the options name (the system file when readable and none
// is named, else the built-in defaults), with t.env.from set: without --from
// the message is tested with the null sender, as a bounce. Null after
// printing the errors to `err` when the file is not valid.
inline std::shared_ptr<const Config> test_config(TestOptions& t, std::ostream& err) {
  t.env.from = t.have_from ? t.from : std::string();
  if (t.config.empty() && access(kSystemConfig, R_OK) == 0) t.config = kSystemConfig;
  if (t.config.empty()) return default_config();
  LoadResult r = load_config_file(t.config);
  if (!r.ok()) {
    for (const auto& e : r.errors) err << "esmtp-inspect: " << e.str() << "\n";
    return nullptr;
  }
  return r.config;
}

}  // namespace esmtp
