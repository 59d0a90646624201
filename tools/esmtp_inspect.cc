// esmtp-inspect: the operator CLI. Subcommands, options, output and exit codes:
// esmtp-inspect(1), which the test manpage_options holds to every option here.
//
//   esmtp-inspect check-config FILE
//   esmtp-inspect test [--config F] [--client IP] [--helo NAME] [--from ADDR]
//                      [--rcpt ADDR]... [--json] MESSAGE.eml|-
//   esmtp-inspect report [--since T] [--until T] [--json|--html OUT] LOG...|-
//   esmtp-inspect probe [--dns SERVER]... [--json] HOST[:PORT]
//   esmtp-inspect selfcheck [-c DIR] [--address IP]... [--dns SERVER]... [--json]
//   esmtp-inspect default-config
//
// Exit codes: check-config 0 valid / 1 invalid; test 0 accepted / 1 not
// accepted / 2 usage, config or I/O error; report 0 / 2 usage or unreadable
// input; probe and selfcheck (run by monitoring) 0 fine / 1 warnings /
// 2 problems / 3 could not run (usage errors included).
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "common/config/config_loader.h"
#include "common/log/logger.h"
#include "common/log/verdict_json.h"
#include "tools/offline/offline.h"
#include "tools/probe/probe.h"
#include "tools/report/report.h"
#include "tools/selfcheck/selfcheck.h"
#include "tools/test_options.h"

namespace esmtp {
namespace {

constexpr int kExitUsage = 2;

void print_errors(const std::vector<ConfigError>& errors) {
  for (const auto& e : errors) std::cerr << "esmtp-inspect: " << e.str() << "\n";
}

int check_config(const std::string& file) {
  LoadResult r = load_config_file(file);
  if (!r.ok()) {
    print_errors(r.errors);
    std::cerr << "esmtp-inspect: " << file << ": " << r.errors.size() << " error"
              << (r.errors.size() == 1 ? "" : "s") << "\n";
    return 1;
  }
  std::cout << "# " << file << ": valid. Effective configuration:\n" << dump_config(*r.config);
  return 0;
}

int run_test(TestOptions& o) {
  std::shared_ptr<const Config> config = test_config(o, std::cerr);
  if (!config) return kExitUsage;
  int fd = STDIN_FILENO;
  if (o.message != "-") {
    fd = open(o.message.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      std::cerr << "esmtp-inspect: " << o.message << ": " << std::strerror(errno) << "\n";
      return kExitUsage;
    }
  }
  std::string error;
  auto result = run_offline(config, o.env, fd, nullptr, &error);
  if (fd != STDIN_FILENO) close(fd);
  if (!result) {
    std::cerr << "esmtp-inspect: " << o.message << ": " << error << "\n";
    return kExitUsage;
  }
  if (o.json) {
    nlohmann::ordered_json j;
    j["verdicts"] = nlohmann::ordered_json::array();
    for (const auto& v : result->verdicts) j["verdicts"].push_back(verdict_to_json(v));
    j["final"] = result->final;
    j["tags"] = result->tags;
    std::cout << json_line(j) << "\n";
  } else {
    std::cout << offline_text(*result);
  }
  return result->accepted() ? 0 : 1;
}

}  // namespace
}  // namespace esmtp

int main(int argc, char** argv) {
  using namespace esmtp;
  CLI::App app{"esmtp-inspect: SMTP inspection rules enforced inside the MTA"};
  app.set_version_flag("--version", std::string("esmtp-inspect ") + ESMTP_VERSION);
  app.require_subcommand(1);

  std::string config_file;
  auto* check = app.add_subcommand("check-config",
                                   "Validate a config file and print the "
                                   "effective configuration (exit 0 valid, 1 not)");
  check->add_option("FILE", config_file, "esmtp-inspect.yaml")->required();

  TestOptions t;
  auto* test = add_test_command(app, t);

  report::ReportCli report_cli;
  auto* report_cmd = report::add_report_command(app, report_cli);

  probe::ProbeOptions probe_opts;
  auto* probe_cmd = probe::add_probe_command(app, probe_opts);

  selfcheck::Options selfcheck_options;
  auto* selfcheck = selfcheck::add_selfcheck_command(app, selfcheck_options);

  app.add_subcommand("default-config",
                     "Print the annotated default configuration (conf/esmtp-inspect.yaml)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    (void)app.exit(e);
    // selfcheck is run by monitoring, where 2 means "problems found".
    if (probe_cmd->parsed()) return probe::kExitCannotProbe;  // likewise
    return selfcheck->parsed() ? selfcheck::kExitCannotRun : kExitUsage;
  }
  if (check->parsed()) return check_config(config_file);
  if (test->parsed()) return run_test(t);
  if (probe_cmd->parsed()) return probe::run_probe(probe_opts);
  if (report_cmd->parsed()) return report::run_report(report_cli);
  if (selfcheck->parsed()) return selfcheck::run_selfcheck(selfcheck_options);
  std::cout << annotated_default_config();
  return 0;
}
