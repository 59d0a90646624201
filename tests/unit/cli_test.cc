// Runs the esmtp-inspect binary as an operator would and checks what it
// prints and its exit code.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <string>

namespace {

using ::testing::HasSubstr;

struct CliRun {
  int status;
  std::string out;
};

CliRun run(const std::string& args, const std::string& stdin_text = "") {
  std::string in_path = "/tmp/esmtp-cli-in-" + std::to_string(getpid());
  std::ofstream(in_path) << stdin_text;
  std::string cmd = std::string(ESMTP_CLI) + " " + args + " < " + in_path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  std::remove(in_path.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string write_file(const std::string& name, const std::string& text) {
  std::string path = "/tmp/esmtp-cli-" + std::to_string(getpid()) + "-" + name;
  std::ofstream(path) << text;
  return path;
}

const std::string kGood = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n";
const std::string kLongHeader =
    "From: a@example.org\r\nSubject: " + std::string(1200, 'x') + "\r\n\r\nhello\r\n";

TEST(Cli, AcceptedMessageExitsZero) {
  CliRun r = run("test --config /dev/null -", kGood);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "final: accept\n");
}

TEST(Cli, RejectedMessageExitsOneAndPrintsVerdict) {
  CliRun r =
      run("test --config /dev/null --from a@example.org --rcpt b@example.net -", kLongHeader);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out,
            "action=reject rule=header_line_length actual=1209 limit=998 where=header:Subject "
            "reply=\"550 5.6.0 Header line too long\" profile=default\nfinal: reject\n");
}

TEST(Cli, JsonOutputShape) {
  CliRun r = run("test --config /dev/null --json -", kLongHeader);
  EXPECT_EQ(r.status, 1);
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["verdicts"].size(), 1u);
  auto v = j["verdicts"][0];
  EXPECT_EQ(v["action"], "reject");
  EXPECT_EQ(v["rule"], "header_line_length");
  EXPECT_EQ(v["actual"], 1209);
  EXPECT_EQ(v["limit"], 998);
  EXPECT_EQ(v["where"], "header:Subject");
  EXPECT_EQ(v["reply"], "550 5.6.0 Header line too long");
  EXPECT_EQ(j["final"], "reject");
}

TEST(Cli, MessageFileAndMonitorConfig) {
  std::string msg = write_file("m.eml", kLongHeader);
  std::string conf = write_file("monitor.yaml", "mode: monitor\n");
  CliRun r = run("test --config " + conf + " " + msg);
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("action=log would=reject rule=header_line_length"));
  EXPECT_THAT(r.out, HasSubstr("final: accept"));
  std::remove(msg.c_str());
  std::remove(conf.c_str());
}

TEST(Cli, RecipientsPastTheLimitTempfailButMessageIsAccepted) {
  std::string args = "test --config /dev/null --from a@example.org";
  for (int i = 0; i < 102; ++i) args += " --rcpt r" + std::to_string(i) + "@example.net";
  CliRun r = run(args + " -", kGood);
  EXPECT_EQ(r.status, 0);
  // Each refused recipient would have been the 101st accepted one.
  EXPECT_THAT(r.out, HasSubstr("action=tempfail rule=recipient_count actual=101 limit=100 "
                               "where=rcpt to=<r100@example.net> reply=\"452 4.5.3 Too many "
                               "recipients\" profile=default\naction=tempfail rule=recipient_count "
                               "actual=101 limit=100 where=rcpt to=<r101@example.net>"));
  EXPECT_THAT(r.out, HasSubstr("final: accept"));
}

TEST(Cli, UsageAndConfigErrorsExitTwo) {
  EXPECT_EQ(run("test").status, 2);
  EXPECT_EQ(run("test --bogus-option x.eml").status, 2);
  EXPECT_EQ(run("test --config /dev/null /nonexistent.eml").status, 2);
  std::string bad = write_file("bad.yaml", "rules: { header_line_length: { max: -1 } }\n");
  CliRun r = run("test --config " + bad + " -", kGood);
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.out, HasSubstr(":1:37: rules.header_line_length.max: expected a whole number"));
  std::remove(bad.c_str());
}

TEST(Cli, CheckConfig) {
  std::string good = write_file("good.yaml", "rules: { recipient_count: { max: 50 } }\n");
  CliRun ok = run("check-config " + good);
  EXPECT_EQ(ok.status, 0);
  EXPECT_THAT(ok.out, HasSubstr("recipient_count: {max: 50, action: tempfail, reply: "
                                "452 4.5.3 Too many recipients}"));
  std::string bad = write_file("bad2.yaml", "nonsense: true\n");
  CliRun no = run("check-config " + bad);
  EXPECT_EQ(no.status, 1);
  EXPECT_THAT(no.out, HasSubstr("bad2.yaml:1:1: nonsense: unknown key"));
  std::remove(good.c_str());
  std::remove(bad.c_str());
}

// yaml-cpp reads a directory as an empty file: the defaults, "valid".
TEST(Cli, CheckConfigRefusesADirectory) {
  CliRun r = run("check-config /tmp");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, HasSubstr("/tmp: is a directory, not a configuration file"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("valid")));
}

}  // namespace
