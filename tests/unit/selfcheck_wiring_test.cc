// esmtp-inspect selfcheck, wiring: postconf -M / -P parsing, Postfix lists,
// milter and policy endpoints, where smtpd opens a socket (chrooted or not),
// the probe protocols, each finding and its fix line over a fake probe, and
// the real probe against sockets made here (chroot and user switch as root).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include "tools/selfcheck/selfcheck.h"
#include "tools/selfcheck/socket_probe.h"
#include "tools/selfcheck/wiring.h"

namespace esmtp::selfcheck {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// ---------------------------------------------------------------- parsing

// What `postconf -M` prints for Debian's packaged master.cf plus a
// submission service with -o options and a postscreen setup.
constexpr const char* kMasterM =
    "smtp       inet  n       -       y       -       -       smtpd\n"
    "submission inet  n       -       -       -       -       smtpd -o "
    "syslog_name=postfix/submission -o smtpd_milters=$esock -o {smtpd_client_restrictions=permit_"
    "mynetworks, reject}\n"
    "127.0.0.1:2525 inet n    -       n       -       -       smtpd\n"
    "pickup     unix  n       -       y       60      1       pickup\n"
    "smtpd      pass  -       -       y       -       -       smtpd\n"
    "postlog    unix-dgram n  -       n       -       1       postlogd\n";

TEST(MasterCf, ServicesChrootColumnAndOptions) {
  std::size_t skipped = 9;
  auto s = parse_master_services(kMasterM, &skipped);
  EXPECT_EQ(skipped, 0u);
  ASSERT_EQ(s.size(), 6u);
  EXPECT_EQ(s[0].id(), "smtp/inet");
  EXPECT_EQ(s[0].chroot, "y");
  EXPECT_EQ(s[0].command, "smtpd");
  EXPECT_EQ(s[1].id(), "submission/inet");
  EXPECT_EQ(s[1].chroot, "-");
  EXPECT_EQ(s[1].arguments.front(), "-o");
  EXPECT_EQ(s[2].id(), "127.0.0.1:2525/inet");
  EXPECT_EQ(s[2].chroot, "n");
  EXPECT_EQ(s[4].id(), "smtpd/pass");
  EXPECT_EQ(s[5].type, "unix-dgram");

  EXPECT_TRUE(runs_chrooted(s[0], "3.7.11"));
  EXPECT_FALSE(runs_chrooted(s[1], "3.7.11"));  // "-": n since Postfix 3.0
  EXPECT_TRUE(runs_chrooted(s[1], "2.11.3"));   // and y before
  EXPECT_FALSE(runs_chrooted(s[1], ""));
  EXPECT_FALSE(runs_chrooted(s[2], "2.11.3"));
  EXPECT_FALSE(runs_as_root(s[0]));
}

TEST(MasterCf, FoldedOptionsAndJunk) {
  // postconf -Mf folds -o options onto indented lines.
  std::size_t skipped = 0;
  auto s = parse_master_services(
      "   -o orphan=1\n"
      "submission inet n - - - - smtpd\n"
      "    -o smtpd_milters=unix:x\n"
      "too few fields here\n"
      "# comment\n"
      "relay unix - n n - - smtp\n",
      &skipped);
  EXPECT_EQ(skipped, 2u);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_THAT(s[0].arguments, ElementsAre("-o", "smtpd_milters=unix:x"));
  EXPECT_TRUE(runs_as_root(s[1]));
}

TEST(MasterCf, ServiceOverridesFromPostconfP) {
  auto o = parse_service_overrides(
      "submission/inet/smtpd_milters = unix:esmtp-inspect/milter.sock,unix:/run/x.sock\n"
      "submission/inet/smtpd_client_restrictions = permit_mynetworks, reject\n"
      "127.0.0.1:2525/inet/smtpd_milters =\n"
      "postconf: warning: something\n"
      "bad/line = x\n"
      "[::1]:25/inet/smtpd_milters = unix:a,\n"
      "    unix:b\n");
  ASSERT_EQ(o.size(), 3u);
  EXPECT_EQ(o["[::1]:25/inet"]["smtpd_milters"], "unix:a, unix:b");
  EXPECT_EQ(o["submission/inet"]["smtpd_milters"],
            "unix:esmtp-inspect/milter.sock,unix:/run/x.sock");
  EXPECT_EQ(o["submission/inet"]["smtpd_client_restrictions"], "permit_mynetworks, reject");
  EXPECT_EQ(o["127.0.0.1:2525/inet"].count("smtpd_milters"), 1u);
  EXPECT_EQ(o["127.0.0.1:2525/inet"]["smtpd_milters"], "");
}

TEST(MasterCf, ExpandParametersForPostconfWithoutXP) {
  PostconfValues v = {{"esock", "unix:esmtp-inspect/milter.sock"}, {"q", "/var/spool/postfix"}};
  EXPECT_EQ(
      expand_parameters("$esock, ${esock} $(q)/x $unknown$", v),
      "unix:esmtp-inspect/milter.sock, unix:esmtp-inspect/milter.sock /var/spool/postfix/x $");
  EXPECT_EQ(expand_parameters("${esock?yes} plain", v), "${esock?yes} plain");
  EXPECT_THAT(referenced_parameters("$a ${b} $(c) $a ${d?x}"), ElementsAre("a", "b", "c"));
}

TEST(PostfixLists, TokensWithBraces) {
  EXPECT_THAT(postfix_tokens(" a,b  c ,, "), ElementsAre("a", "b", "c"));
  EXPECT_THAT(postfix_tokens("unix:x, { inet:127.0.0.1:1, a = {b, c} }, d"),
              ElementsAre("unix:x", "{ inet:127.0.0.1:1, a = {b, c} }", "d"));
  EXPECT_THAT(postfix_tokens("{ unclosed, x"), ElementsAre("{ unclosed, x"));
  EXPECT_THAT(postfix_tokens(""), IsEmpty());
}

TEST(PostfixLists, Endpoints) {
  auto e = parse_endpoint("unix:esmtp-inspect/milter.sock", EndpointSyntax::kPostfix);
  EXPECT_EQ(e.kind, Endpoint::Kind::kUnix);
  EXPECT_EQ(e.path, "esmtp-inspect/milter.sock");
  e = parse_endpoint("local:/run/x.sock", EndpointSyntax::kPostfix);
  EXPECT_EQ(e.kind, Endpoint::Kind::kUnix);
  EXPECT_EQ(e.transport, "local");
  EXPECT_EQ(e.path, "/run/x.sock");
  e = parse_endpoint("inet:127.0.0.1:8891", EndpointSyntax::kPostfix);
  EXPECT_EQ(e.kind, Endpoint::Kind::kInet);
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 8891);
  e = parse_endpoint("inet:[::1]:10040", EndpointSyntax::kPostfix);
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 10040);
  e = parse_endpoint("/run/x.sock",
                     EndpointSyntax::kPostfix);  // libmilter takes it, Postfix does not
  EXPECT_EQ(e.kind, Endpoint::Kind::kInvalid);
  EXPECT_THAT(e.error, HasSubstr("Postfix needs transport:endpoint, e.g. unix:/run/x.sock"));
  EXPECT_THAT(parse_endpoint("tcp:1.2.3.4:5", EndpointSyntax::kPostfix).error,
              HasSubstr("unknown transport \"tcp\""));
  EXPECT_EQ(parse_endpoint("inet:127.0.0.1", EndpointSyntax::kPostfix).kind,
            Endpoint::Kind::kInvalid);
  EXPECT_EQ(parse_endpoint("unix:", EndpointSyntax::kPostfix).kind, Endpoint::Kind::kInvalid);
}

TEST(PostfixLists, BracedMilterForm) {
  auto m = parse_milters(
      "unix:esmtp-inspect/milter.sock, { inet:127.0.0.1:8891, connect_timeout=10s, "
      "default_action = accept }, {unix:/run/o.sock,protocol= 4 command_timeout =5s}");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].endpoint.path, "esmtp-inspect/milter.sock");
  EXPECT_THAT(m[0].attributes, IsEmpty());
  EXPECT_EQ(m[1].endpoint.text, "inet:127.0.0.1:8891");
  EXPECT_EQ(m[1].attribute("connect_timeout"), "10s");
  EXPECT_EQ(m[1].attribute("default_action"), "accept");
  EXPECT_EQ(m[2].endpoint.path, "/run/o.sock");
  EXPECT_EQ(m[2].attribute("protocol"), "4");
  EXPECT_EQ(m[2].attribute("command_timeout"), "5s");
  EXPECT_EQ(m[1].rewritten("inet:127.0.0.1:9999"),
            "{ inet:127.0.0.1:9999, connect_timeout=10s, default_action=accept }");
  EXPECT_EQ(m[1].rewritten(m[1].endpoint.text, "default_action", "tempfail"),
            "{ inet:127.0.0.1:8891, connect_timeout=10s, default_action=tempfail }");
  EXPECT_EQ(m[0].rewritten("unix:x"), "unix:x");
  EXPECT_EQ(m[0].rewritten("unix:x", "protocol", "6"), "{ unix:x, protocol=6 }");
}

TEST(PostfixLists, Restrictions) {
  auto r = parse_restrictions(
      "permit_mynetworks, check_client_access hash:/etc/postfix/access, "
      "reject_rbl_client zen.spamhaus.org, check_policy_service { unix:esmtp-inspect/policy.sock, "
      "timeout=10s }, reject_unauth_destination check_policy_service inet:127.0.0.1:10040");
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(r[1].text(), "check_client_access hash:/etc/postfix/access");
  EXPECT_EQ(r[2].argument, "zen.spamhaus.org");
  ASSERT_TRUE(r[3].policy);
  EXPECT_EQ(r[3].policy->endpoint.path, "esmtp-inspect/policy.sock");
  EXPECT_EQ(r[3].policy->attribute("timeout"), "10s");
  EXPECT_TRUE(r[4].unauth_destination());
  EXPECT_EQ(r[5].policy->endpoint.port, 10040);
  EXPECT_EQ(join_restrictions(r),
            "permit_mynetworks, check_client_access hash:/etc/postfix/access, reject_rbl_client "
            "zen.spamhaus.org, check_policy_service { unix:esmtp-inspect/policy.sock, "
            "timeout=10s }, reject_unauth_destination, check_policy_service inet:127.0.0.1:10040");
}

// Where smtpd opens a socket name: relative names are in queue_directory
// (its working directory) whether chrooted or not; absolute names are
// inside queue_directory only when chrooted.
TEST(SocketPath, RelativeAbsoluteChrootedOrNot) {
  const std::string q = "/var/spool/postfix";
  struct Row {
    const char* name;
    bool chrooted;
    const char* path;
  } rows[] = {
      {"esmtp-inspect/milter.sock", true, "/var/spool/postfix/esmtp-inspect/milter.sock"},
      {"esmtp-inspect/milter.sock", false, "/var/spool/postfix/esmtp-inspect/milter.sock"},
      {"/run/esmtp-inspect/milter.sock", true, "/var/spool/postfix/run/esmtp-inspect/milter.sock"},
      {"/run/esmtp-inspect/milter.sock", false, "/run/esmtp-inspect/milter.sock"},
      {"/var/spool/postfix/esmtp-inspect/milter.sock", true,
       "/var/spool/postfix/var/spool/postfix/esmtp-inspect/milter.sock"},
      {"/var/spool/postfix/esmtp-inspect/milter.sock", false,
       "/var/spool/postfix/esmtp-inspect/milter.sock"},
      {"./private//policy", false, "/var/spool/postfix/private/policy"},
  };
  for (const auto& r : rows)
    EXPECT_EQ(socket_host_path(r.name, q, r.chrooted), r.path) << r.name << " " << r.chrooted;
  EXPECT_EQ(socket_host_path("x.sock", "/q/", true), "/q/x.sock");
}

// ---------------------------------------------------------------- protocols

std::string milter_reply(std::uint32_t version = 6, char command = 'O') {
  std::string b = {0, 0, 0, 13, command};
  for (std::uint32_t v : {version, 0x21u, 0x1f0800u}) {
    b += static_cast<char>(v >> 24);
    b += static_cast<char>((v >> 16) & 0xff);
    b += static_cast<char>((v >> 8) & 0xff);
    b += static_cast<char>(v & 0xff);
  }
  return b;
}

TEST(Protocols, MilterNegotiation) {
  std::string req = milter_probe_request();
  ASSERT_EQ(req.size(), 22u);  // OPTNEG (4 + 13) and QUIT (4 + 1)
  EXPECT_EQ(req.substr(0, 5), std::string("\0\0\0\x0dO", 5));
  EXPECT_EQ(req.substr(5, 4), std::string("\0\0\0\x06", 4));  // version 6
  EXPECT_EQ(req.substr(17), std::string("\0\0\0\x01Q", 5));

  std::string error;
  auto r = parse_milter_reply(milter_reply(), &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->version, 6u);
  EXPECT_EQ(r->actions, 0x21u);
  EXPECT_EQ(r->protocol & 0x800, 0x800u);  // SMFIP_RCPT_REJ
  // Macro lists after the three words are fine.
  std::string longer = milter_reply() + std::string("\0\0\0\0j\0", 6);
  longer[3] = 19;
  EXPECT_TRUE(parse_milter_reply(longer, &error));

  EXPECT_FALSE(parse_milter_reply("", &error));
  EXPECT_THAT(error, HasSubstr("closed the connection without answering"));
  EXPECT_FALSE(parse_milter_reply(milter_reply(6, 't'), &error));
  EXPECT_THAT(error, HasSubstr("milter command 't' instead of SMFIC_OPTNEG"));
  EXPECT_FALSE(parse_milter_reply("220 mail.example.org ESMTP\r\n", &error));
  EXPECT_THAT(error, HasSubstr("not a milter packet"));
  EXPECT_FALSE(parse_milter_reply(milter_reply().substr(0, 10), &error));
  EXPECT_THAT(error, HasSubstr("too short"));
}

TEST(Protocols, PolicyRequestHasNoSideEffectAttributes) {
  std::string req = policy_probe_request();
  EXPECT_THAT(req, HasSubstr("request=smtpd_access_policy\n"));
  EXPECT_THAT(req, HasSubstr("protocol_state=CONNECT\n"));
  // No HELO (identity lookups), sender/recipient (rules), server_address
  // (self_banner lookups).
  for (const char* a : {"helo_name=", "sender=", "recipient=", "server_address=", "instance="})
    EXPECT_THAT(req, Not(HasSubstr(a)));
  EXPECT_EQ(req.substr(req.size() - 2), "\n\n");
  std::string error;
  EXPECT_EQ(parse_policy_reply("action=DUNNO\n\n", &error), "DUNNO");
  EXPECT_FALSE(parse_policy_reply("", &error));
  EXPECT_THAT(error, HasSubstr("without answering the policy request"));
  EXPECT_FALSE(parse_policy_reply("220 hello\r\n", &error));
  EXPECT_THAT(error, HasSubstr("answered \"220 hello?\" instead of action="));
}

TEST(Protocols, ShellQuote) {
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
}

// ---------------------------------------------------------------- findings

// Sockets and answers from maps; a socket listed in `files` answers its
// protocol properly unless `answers` says otherwise.
class FakeProbe : public WiringProbe {
 public:
  bool root = true;
  std::map<std::string, FileState> files;
  std::map<std::string, ProbeResult> answers;  // by host path or inet endpoint text
  std::vector<ProbeTarget> talked;

  void socket(const std::string& path) { files[path] = FileState{0, true, "socket"}; }

  bool privileged() const override { return root; }
  std::optional<RunAs> user(const std::string& name) override {
    if (name == "postfix") return RunAs{"postfix", 101, 102};
    return std::nullopt;
  }
  FileState stat(const std::string& path) override {
    if (auto it = files.find(path); it != files.end()) return it->second;
    FileState f;
    f.error = ENOENT;
    return f;
  }
  ProbeResult talk(const ProbeTarget& t) override {
    talked.push_back(t);
    std::string key = t.endpoint.kind == Endpoint::Kind::kUnix ? t.host_path : t.endpoint.text;
    if (auto it = answers.find(key); it != answers.end()) return it->second;
    ProbeResult r;
    r.stage = ProbeResult::Stage::kDone;
    if (t.speak) r.reply = t.protocol == Protocol::kMilter ? milter_reply() : "action=DUNNO\n\n";
    return r;
  }
};

ProbeResult failed(ProbeResult::Stage stage, int error, std::string reply = {}) {
  ProbeResult r;
  r.stage = stage;
  r.error = error;
  r.reply = std::move(reply);
  return r;
}

constexpr const char* kQueue = "/var/spool/postfix";
constexpr const char* kMilterSock = "/var/spool/postfix/esmtp-inspect/milter.sock";
constexpr const char* kPolicySock = "/var/spool/postfix/esmtp-inspect/policy.sock";

class Wiring : public ::testing::Test {
 protected:
  void SetUp() override {
    main_ = {{"mail_version", "3.7.11"},
             {"queue_directory", kQueue},
             {"mail_owner", "postfix"},
             {"smtpd_milters", "unix:esmtp-inspect/milter.sock"},
             {"milter_default_action", "tempfail"},
             {"milter_protocol", "6"},
             {"smtpd_delay_reject", "yes"},
             {"smtpd_relay_before_recipient_restrictions", "yes"},
             {"smtpd_relay_restrictions",
              "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"},
             {"smtpd_recipient_restrictions",
              "permit_mynetworks, reject_unauth_destination, check_policy_service "
              "unix:esmtp-inspect/policy.sock"}};
    master_ = "smtp inet n - y - - smtpd\n";
    probe_.socket(kMilterSock);
    probe_.socket(kPolicySock);
  }

  WiringReport run() {
    WiringInput in;
    in.main = main_;
    in.services = parse_master_services(master_);
    in.overrides = parse_service_overrides(overrides_);
    in.ours.milter = {"unix:/var/spool/postfix/esmtp-inspect/milter.sock"};
    in.ours.policy = {"unix:/var/spool/postfix/esmtp-inspect/policy.sock"};
    report_ = check_wiring(in, probe_);
    return report_;
  }

  std::vector<const Finding*> at_least(Severity s) const {
    std::vector<const Finding*> out;
    for (const auto& f : report_.findings)
      if (f.severity >= s) out.push_back(&f);
    return out;
  }

  // The one finding at `s` or worse.
  const Finding& only(Severity s) const {
    auto v = at_least(s);
    EXPECT_EQ(v.size(), 1u) << dump();
    static const Finding none;
    return v.empty() ? none : *v.front();
  }

  std::string dump() const {
    std::string out;
    for (const auto& f : report_.findings)
      out += std::string(to_string(f.severity)) + ": " + f.message + "\n    fix: " + f.fix + "\n";
    return out;
  }

  PostconfValues main_;
  std::string master_, overrides_;
  FakeProbe probe_;
  WiringReport report_;
};

TEST_F(Wiring, DebianChrootedSmtpdWithRelativeNamesIsRight) {
  run();
  EXPECT_THAT(at_least(Severity::kInfo), IsEmpty()) << dump();
  ASSERT_EQ(report_.services.size(), 1u);
  EXPECT_EQ(report_.services[0].id, "smtp/inet");
  EXPECT_TRUE(report_.services[0].chrooted);
  EXPECT_EQ(report_.services[0].user, "postfix");
  // Connected as smtpd would: chrooted in the queue directory, as postfix.
  ASSERT_EQ(probe_.talked.size(), 2u);
  for (const auto& t : probe_.talked) {
    EXPECT_TRUE(t.chrooted);
    EXPECT_EQ(t.queue_directory, kQueue);
    ASSERT_TRUE(t.as);
    EXPECT_EQ(t.as->uid, 101u);
    EXPECT_EQ(t.as->gid, 102u);
    EXPECT_TRUE(t.speak);
  }
  EXPECT_EQ(probe_.talked[0].endpoint.path, "esmtp-inspect/milter.sock");
  EXPECT_EQ(probe_.talked[0].host_path, kMilterSock);
  EXPECT_EQ(probe_.talked[1].protocol, Protocol::kPolicy);
  std::vector<std::string> ok;
  for (const auto& f : report_.findings) ok.push_back(f.message);
  EXPECT_THAT(ok,
              ElementsAre("smtpd_milters unix:esmtp-inspect/milter.sock (smtp/inet chrooted): "
                          "/var/spool/postfix/esmtp-inspect/milter.sock answers the milter "
                          "negotiation as postfix (version 6)",
                          "smtpd_recipient_restrictions check_policy_service "
                          "unix:esmtp-inspect/policy.sock (smtp/inet chrooted): "
                          "/var/spool/postfix/esmtp-inspect/policy.sock answers as postfix "
                          "(action=DUNNO)",
                          "milter_default_action is tempfail for unix:esmtp-inspect/milter.sock: "
                          "while the milter is down, mail waits (451) instead of passing "
                          "uninspected",
                          "milter_protocol is 6 for unix:esmtp-inspect/milter.sock"));
}

TEST_F(Wiring, AbsolutePathOutsideTheQueueWithAChrootedSmtpd) {
  main_["smtpd_milters"] = "inet:127.0.0.1:8891, unix:/run/esmtp-inspect/milter.sock";
  probe_.socket("/run/esmtp-inspect/milter.sock");  // the daemon listens there
  run();
  const Finding& f = only(Severity::kWarning);
  EXPECT_EQ(f.severity, Severity::kProblem);
  EXPECT_EQ(f.check, "wiring");
  EXPECT_EQ(f.subject, "unix:/run/esmtp-inspect/milter.sock");
  EXPECT_EQ(f.message,
            "smtpd_milters unix:/run/esmtp-inspect/milter.sock (smtp/inet chrooted): the chrooted "
            "smtpd opens /var/spool/postfix/run/esmtp-inspect/milter.sock, which does not exist; "
            "/run/esmtp-inspect/milter.sock exists, but outside the chroot");
  EXPECT_THAT(f.meaning, HasSubstr("451 4.7.1 Service unavailable"));
  EXPECT_THAT(f.meaning, HasSubstr("A name without a leading slash is relative to "
                                   "queue_directory and works chrooted or not."));
  // Other entries of the list stay.
  EXPECT_EQ(f.fix,
            "postconf -e 'smtpd_milters = inet:127.0.0.1:8891, unix:esmtp-inspect/milter.sock'");
  // The same setting without chroot works.
  master_ = "smtp inet n - n - - smtpd\n";
  run();
  EXPECT_THAT(at_least(Severity::kWarning), IsEmpty()) << dump();
}

TEST_F(Wiring, AbsolutePathOutsideTheQueueWhereOurDaemonDoesNotListenInside) {
  // esmtp-inspect.yaml has the milter on /run: the fix moves it too.
  main_["smtpd_milters"] = "unix:/run/esmtp-inspect/milter.sock";
  WiringInput in;
  in.main = main_;
  in.services = parse_master_services(master_);
  in.ours.config_file = "/etc/esmtp-inspect/esmtp-inspect.yaml";
  in.ours.milter = {"unix:/run/esmtp-inspect/milter.sock"};
  in.ours.policy = {"unix:/var/spool/postfix/esmtp-inspect/policy.sock"};
  report_ = check_wiring(in, probe_);
  const Finding& f = only(Severity::kWarning);
  EXPECT_EQ(f.fix,
            "postconf -e 'smtpd_milters = unix:esmtp-inspect/milter.sock'\n"
            "and have esmtp-inspect-milter listen on "
            "/var/spool/postfix/esmtp-inspect/milter.sock: milter: { socket: "
            "\"unix:/var/spool/postfix/esmtp-inspect/milter.sock\" } in "
            "/etc/esmtp-inspect/esmtp-inspect.yaml, then restart it");
}

TEST_F(Wiring, AbsolutePathInsideTheQueueWithAChrootedSmtpd) {
  // The default socket named absolutely: chrooted, smtpd looks in
  // /var/spool/postfix/var/spool/postfix/...
  main_["smtpd_milters"] = "unix:/var/spool/postfix/esmtp-inspect/milter.sock";
  run();
  const Finding& f = only(Severity::kWarning);
  EXPECT_THAT(f.message, HasSubstr("the chrooted smtpd opens "
                                   "/var/spool/postfix/var/spool/postfix/esmtp-inspect/"
                                   "milter.sock, which does not exist"));
  EXPECT_EQ(f.fix, "postconf -e 'smtpd_milters = unix:esmtp-inspect/milter.sock'");
}

TEST_F(Wiring, ServiceOverrideGetsAPostconfPFix) {
  master_ =
      "smtp inet n - y - - smtpd\n"
      "submission inet n - y - - smtpd -o smtpd_milters=unix:/run/esmtp-inspect/milter.sock\n";
  overrides_ = "submission/inet/smtpd_milters = unix:/run/esmtp-inspect/milter.sock\n";
  run();
  const Finding& f = only(Severity::kWarning);
  EXPECT_THAT(f.message, HasSubstr("(submission/inet chrooted)"));
  EXPECT_EQ(f.fix, "postconf -P 'submission/inet/smtpd_milters=unix:esmtp-inspect/milter.sock'");
  ASSERT_EQ(report_.services.size(), 2u);
  EXPECT_THAT(report_.services[1].milters, ElementsAre("unix:/run/esmtp-inspect/milter.sock"));
}

TEST_F(Wiring, PolicyAbsolutePathFixKeepsTheWholeList) {
  main_["smtpd_recipient_restrictions"] =
      "permit_mynetworks, reject_unauth_destination, check_policy_service "
      "unix:/run/esmtp-inspect/policy.sock, permit";
  run();
  const Finding& f = only(Severity::kWarning);
  EXPECT_THAT(f.meaning, HasSubstr("451 4.3.5 Server configuration problem"));
  EXPECT_EQ(f.fix,
            "postconf -e 'smtpd_recipient_restrictions = permit_mynetworks, "
            "reject_unauth_destination, check_policy_service unix:esmtp-inspect/policy.sock, "
            "permit'");
}

// What a missing service means depends on the default action Postfix
// applies then.
TEST_F(Wiring, MeaningFollowsTheDefaultAction) {
  probe_.files.clear();
  main_["milter_default_action"] = "accept";
  main_["smtpd_recipient_restrictions"] =
      "reject_unauth_destination, check_policy_service { unix:esmtp-inspect/policy.sock, "
      "default_action=DUNNO }";
  run();
  std::vector<std::string> meanings;
  for (const auto* f : at_least(Severity::kProblem)) meanings.push_back(f->meaning);
  ASSERT_EQ(meanings.size(), 2u) << dump();
  EXPECT_THAT(meanings[0], HasSubstr("mail is accepted without this milter "
                                     "(milter_default_action = accept)"));
  EXPECT_THAT(meanings[1], HasSubstr("Postfix goes on as if it had answered DUNNO "
                                     "(default_action for this policy service): mail is not "
                                     "inspected"));
  main_["milter_default_action"] = "reject";
  main_["smtpd_policy_service_default_action"] = "450 4.7.1 Try later";
  main_["smtpd_recipient_restrictions"] =
      "reject_unauth_destination, check_policy_service unix:esmtp-inspect/policy.sock";
  run();
  meanings.clear();
  for (const auto* f : at_least(Severity::kProblem)) meanings.push_back(f->meaning);
  ASSERT_EQ(meanings.size(), 3u) << dump();  // and milter_default_action = reject itself
  EXPECT_THAT(meanings[0], HasSubstr("\"550 5.5.0 Service unavailable\""));
  EXPECT_THAT(meanings[1], HasSubstr("\"450 4.7.1 Try later\" "
                                     "(smtpd_policy_service_default_action)"));
}

TEST_F(Wiring, SharedSettingOneFindingForSeveralServices) {
  master_ =
      "smtp inet n - y - - smtpd\n"
      "smtps inet n - y - - smtpd\n"
      "2525 inet n - n - - /usr/lib/postfix/sbin/smtpd\n";
  probe_.files.erase(kMilterSock);
  run();
  auto bad = at_least(Severity::kWarning);
  ASSERT_EQ(bad.size(), 1u) << dump();
  EXPECT_EQ(bad[0]->message,
            "smtpd_milters unix:esmtp-inspect/milter.sock (smtp/inet chrooted, smtps/inet "
            "chrooted, 2525/inet): /var/spool/postfix/esmtp-inspect/milter.sock does not exist "
            "(No such file or directory)");
  EXPECT_THAT(bad[0]->meaning, HasSubstr("Is esmtp-inspect-milter running?"));
  EXPECT_EQ(bad[0]->fix,
            "systemctl restart esmtp-inspect-milter (its socket: milter.socket in "
            "esmtp-inspect.yaml)");
}

TEST_F(Wiring, ConnectFailuresInWords) {
  struct Row {
    int error;
    const char* message;
    const char* meaning;
  } rows[] = {
      {EACCES,
       "postfix cannot connect to /var/spool/postfix/esmtp-inspect/milter.sock "
       "(Permission denied)",
       "with only its primary group"},
      {ECONNREFUSED, "(Connection refused: the socket is there, but no process listens on it)",
       "left over from a daemon that is not running"},
      {ETIMEDOUT, "(no connection within the time limit)", "looks down to Postfix"},
  };
  for (const auto& r : rows) {
    probe_.answers[kMilterSock] = failed(ProbeResult::Stage::kConnect, r.error);
    run();
    const Finding& f = only(Severity::kWarning);
    EXPECT_EQ(f.severity, Severity::kProblem);
    EXPECT_THAT(f.message, HasSubstr(r.message));
    EXPECT_THAT(f.meaning, HasSubstr(r.meaning));
  }
  probe_.answers[kMilterSock] = failed(ProbeResult::Stage::kConnect, EACCES);
  run();
  EXPECT_EQ(only(Severity::kWarning).fix,
            "chgrp postfix /var/spool/postfix/esmtp-inspect && chmod 0750 "
            "/var/spool/postfix/esmtp-inspect (the socket folder), and milter: { group: postfix "
            "} in esmtp-inspect.yaml (socket mode 0660), then systemctl restart "
            "esmtp-inspect-milter");
}

TEST_F(Wiring, NotASocketAndWrongAnswers) {
  probe_.files[kMilterSock] = FileState{0, false, "regular file"};
  run();
  EXPECT_THAT(only(Severity::kWarning).message,
              HasSubstr("/var/spool/postfix/esmtp-inspect/milter.sock is a regular file, not "
                        "a socket"));
  probe_.socket(kMilterSock);

  probe_.answers[kMilterSock] = failed(ProbeResult::Stage::kDone, 0, "220 smtp\r\n");
  run();
  EXPECT_THAT(only(Severity::kWarning).message,
              HasSubstr("connected to /var/spool/postfix/esmtp-inspect/milter.sock as postfix, "
                        "but it answered \"220 smtp??\", not a milter packet"));
  probe_.answers[kMilterSock] = failed(ProbeResult::Stage::kAnswer, ETIMEDOUT);
  run();
  EXPECT_THAT(only(Severity::kWarning).message, HasSubstr("but no answer within the time limit"));
  probe_.answers.clear();
  probe_.answers[kPolicySock] = failed(ProbeResult::Stage::kDone, 0, "");
  run();
  EXPECT_THAT(only(Severity::kWarning).message,
              HasSubstr("but it closed the connection without answering the policy request"));
}

TEST_F(Wiring, MilterSocketThatIsThePolicyDaemons) {
  main_["smtpd_milters"] = "unix:esmtp-inspect/policy.sock";
  run();
  const Finding& f = only(Severity::kWarning);
  EXPECT_THAT(f.message, HasSubstr("is esmtp-inspect-policyd's socket"));
  EXPECT_EQ(f.fix, "postconf -e 'smtpd_milters = unix:esmtp-inspect/milter.sock'");
  EXPECT_EQ(probe_.talked.size(), 1u);  // only the policy service was spoken to
}

TEST_F(Wiring, BarePathIsNotAPostfixMilterName) {
  main_["smtpd_milters"] = "/run/esmtp-inspect/milter.sock";
  run();
  const Finding& f = only(Severity::kWarning);
  EXPECT_EQ(f.severity, Severity::kProblem);
  EXPECT_THAT(f.message, HasSubstr("Postfix needs transport:endpoint"));
  EXPECT_EQ(f.fix, "postconf -e 'smtpd_milters = unix:esmtp-inspect/milter.sock'");
  master_ = "smtp inet n - n - - smtpd\n";
  run();
  EXPECT_EQ(only(Severity::kWarning).fix,
            "postconf -e 'smtpd_milters = unix:/run/esmtp-inspect/milter.sock'");
}

TEST_F(Wiring, InetEntriesLoopbackOnly) {
  main_["smtpd_milters"] = "inet:192.0.2.7:8891, inet:localhost:8891, inet:[::1]:8892";
  run();
  auto infos = at_least(Severity::kInfo);
  ASSERT_EQ(infos.size(), 1u) << dump();
  EXPECT_EQ(infos[0]->message,
            "smtpd_milters inet:192.0.2.7:8891 (smtp/inet chrooted): not checked: not a local "
            "address (selfcheck connects to loopback only)");
  ASSERT_EQ(probe_.talked.size(), 3u);  // two milters and the policy service
  EXPECT_EQ(probe_.talked[0].endpoint.host, "127.0.0.1");
  EXPECT_EQ(probe_.talked[1].endpoint.host, "::1");
}

TEST_F(Wiring, ForeignPolicyServiceIsNotSentARequest) {
  main_["smtpd_recipient_restrictions"] =
      "reject_unauth_destination, check_policy_service unix:private/policyd-spf, "
      "check_policy_service unix:esmtp-inspect/policy.sock";
  probe_.socket("/var/spool/postfix/private/policyd-spf");
  run();
  ASSERT_EQ(probe_.talked.size(), 3u);
  EXPECT_FALSE(probe_.talked[1].speak);
  EXPECT_TRUE(probe_.talked[2].speak);
  EXPECT_THAT(report_.findings[1].message,
              HasSubstr("/var/spool/postfix/private/policyd-spf accepts connections as postfix "
                        "(not esmtp-inspect's socket: no request sent)"));
}

TEST_F(Wiring, MilterDefaultAction) {
  main_["milter_default_action"] = "accept";
  run();
  const Finding& w = only(Severity::kWarning);
  EXPECT_EQ(w.severity, Severity::kWarning);
  EXPECT_EQ(w.message,
            "milter_default_action = accept (main.cf): while esmtp-inspect-milter is down or "
            "slow, mail is accepted uninspected");
  EXPECT_EQ(w.fix, "postconf -e milter_default_action=tempfail");
  for (const char* a : {"reject", "quarantine"}) {
    main_["milter_default_action"] = a;
    run();
    EXPECT_EQ(only(Severity::kWarning).severity, Severity::kProblem) << a;
    EXPECT_EQ(only(Severity::kWarning).fix, "postconf -e milter_default_action=tempfail");
  }
  // Per milter (Postfix 3.0 braces) and per service (-o).
  main_["milter_default_action"] = "tempfail";
  main_["smtpd_milters"] = "{ unix:esmtp-inspect/milter.sock, default_action=accept }";
  run();
  EXPECT_EQ(only(Severity::kWarning).fix,
            "postconf -e 'smtpd_milters = { unix:esmtp-inspect/milter.sock, "
            "default_action=tempfail }'");
  main_["smtpd_milters"] = "unix:esmtp-inspect/milter.sock";
  master_ = "smtp inet n - y - - smtpd -o milter_default_action=accept\n";
  overrides_ = "smtp/inet/milter_default_action = accept\n";
  run();
  EXPECT_THAT(only(Severity::kWarning).message,
              HasSubstr("milter_default_action = accept (-o milter_default_action of smtp/inet)"));
  EXPECT_EQ(only(Severity::kWarning).fix, "postconf -P smtp/inet/milter_default_action=tempfail");
}

TEST_F(Wiring, MilterProtocol) {
  main_["milter_protocol"] = "4";
  run();
  const Finding& w = only(Severity::kWarning);
  EXPECT_EQ(w.severity, Severity::kWarning);
  EXPECT_THAT(w.message, HasSubstr("milter_protocol = 4 (main.cf): older than 6"));
  EXPECT_THAT(w.meaning, HasSubstr("invalid_recipients"));
  EXPECT_EQ(w.fix, "postconf -e milter_protocol=6");
  main_["milter_protocol"] = "no_header_reply 6";  // extensions may come first
  run();
  EXPECT_THAT(at_least(Severity::kWarning), IsEmpty()) << dump();
}

TEST_F(Wiring, MilterSettingsOnlyForOurMilter) {
  main_["smtpd_milters"] = "{ inet:127.0.0.1:8891, default_action=accept }";
  main_["milter_protocol"] = "2";
  run();
  EXPECT_THAT(at_least(Severity::kWarning), IsEmpty()) << dump();
}

TEST_F(Wiring, PolicyBeforeRejectUnauthDestination) {
  main_["smtpd_relay_restrictions"] = "";
  main_["smtpd_recipient_restrictions"] =
      "permit_mynetworks, check_policy_service unix:esmtp-inspect/policy.sock, "
      "reject_unauth_destination";
  run();
  const Finding& w = only(Severity::kWarning);
  EXPECT_EQ(w.severity, Severity::kWarning);
  EXPECT_EQ(w.message,
            "check_policy_service unix:esmtp-inspect/policy.sock in smtpd_recipient_restrictions "
            "(main.cf) is evaluated before reject_unauth_destination at RCPT time");
  EXPECT_EQ(w.fix,
            "postconf -e 'smtpd_recipient_restrictions = permit_mynetworks, "
            "reject_unauth_destination, check_policy_service unix:esmtp-inspect/policy.sock'");
}

// conf/postfix/main.cf.policy asks the service at DATA and END-OF-MESSAGE
// too (the queue ID for the held log lines): after RCPT, so after the relay
// check, whatever the lists before say; never a misplaced check.
TEST_F(Wiring, ShippedDataAndEndOfDataChecksAreNotMisplaced) {
  main_["smtpd_relay_restrictions"] = "";
  main_["smtpd_data_restrictions"] = "check_policy_service unix:esmtp-inspect/policy.sock";
  main_["smtpd_end_of_data_restrictions"] = "check_policy_service unix:esmtp-inspect/policy.sock";
  run();
  EXPECT_THAT(at_least(Severity::kWarning), IsEmpty()) << dump();
  // Only there: nothing is checked at RCPT, but nothing is misplaced either.
  main_["smtpd_recipient_restrictions"] = "permit_mynetworks, reject_unauth_destination";
  run();
  EXPECT_THAT(at_least(Severity::kWarning), IsEmpty()) << dump();
}

TEST_F(Wiring, RelayRestrictionsAreEvaluatedFirstSince36) {
  // defer_unauth_destination in smtpd_relay_restrictions, evaluated first:
  // the policy check may be anywhere in smtpd_recipient_restrictions.
  main_["smtpd_recipient_restrictions"] = "check_policy_service unix:esmtp-inspect/policy.sock";
  run();
  EXPECT_THAT(at_least(Severity::kWarning), IsEmpty()) << dump();
  // compatibility_level < 3.6: relay restrictions come after.
  main_["smtpd_relay_before_recipient_restrictions"] = "no";
  run();
  EXPECT_EQ(only(Severity::kWarning).fix,
            "postconf -e smtpd_relay_before_recipient_restrictions=yes");
  // A Postfix without that parameter: copy the relay check in front.
  main_.erase("smtpd_relay_before_recipient_restrictions");
  run();
  EXPECT_EQ(only(Severity::kWarning).fix,
            "postconf -e 'smtpd_recipient_restrictions = permit_mynetworks, "
            "permit_sasl_authenticated, defer_unauth_destination, check_policy_service "
            "unix:esmtp-inspect/policy.sock'");
}

TEST_F(Wiring, PolicyInSenderRestrictionsRunsAtRcptBeforeTheRelayCheck) {
  main_["smtpd_sender_restrictions"] =
      "reject_non_fqdn_sender, check_policy_service unix:esmtp-inspect/policy.sock";
  main_["smtpd_recipient_restrictions"] = "permit_mynetworks, reject_unauth_destination";
  run();
  const Finding& w = only(Severity::kWarning);
  EXPECT_THAT(w.message, HasSubstr("in smtpd_sender_restrictions (main.cf) is evaluated before"));
  EXPECT_EQ(w.fix,
            "postconf -e 'smtpd_sender_restrictions = reject_non_fqdn_sender' "
            "'smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, "
            "check_policy_service unix:esmtp-inspect/policy.sock'");
  // Without smtpd_delay_reject it answers at MAIL FROM, not RCPT.
  main_["smtpd_delay_reject"] = "no";
  run();
  EXPECT_THAT(at_least(Severity::kWarning), IsEmpty()) << dump();
}

TEST_F(Wiring, PolicyInARestrictionClass) {
  main_["smtpd_restriction_classes"] = "inspect";
  main_["inspect"] = "check_policy_service unix:esmtp-inspect/policy.sock";
  main_["smtpd_relay_restrictions"] = "";
  main_["smtpd_recipient_restrictions"] = "inspect, reject_unauth_destination";
  run();
  const Finding& w = only(Severity::kWarning);
  EXPECT_THAT(w.message, HasSubstr("inspect (a restriction class with check_policy_service) in "
                                   "smtpd_recipient_restrictions"));
  EXPECT_EQ(w.fix,
            "postconf -e 'smtpd_recipient_restrictions = reject_unauth_destination, inspect'");
  // Its socket is checked where the class is defined.
  bool checked = false;
  for (const auto& f : report_.findings)
    checked |= f.message.find("restriction class inspect check_policy_service") == 0;
  EXPECT_TRUE(checked) << dump();
}

TEST_F(Wiring, NothingConfiguredForEsmtpInspect) {
  main_["smtpd_milters"] = "inet:127.0.0.1:8891";
  main_["smtpd_recipient_restrictions"] = "permit_mynetworks, reject_unauth_destination";
  run();
  auto infos = at_least(Severity::kInfo);
  ASSERT_EQ(infos.size(), 1u) << dump();
  EXPECT_EQ(infos[0]->severity, Severity::kInfo);
  EXPECT_THAT(infos[0]->message, HasSubstr("no smtpd service uses esmtp-inspect"));
  EXPECT_EQ(infos[0]->fix,
            "milter: postconf -e 'smtpd_milters = inet:127.0.0.1:8891, "
            "unix:esmtp-inspect/milter.sock'\n"
            "policy service: postconf -e 'smtpd_recipient_restrictions = permit_mynetworks, "
            "reject_unauth_destination, check_policy_service unix:esmtp-inspect/policy.sock'");

  master_ = "pickup unix n - y 60 1 pickup\n";
  run();
  infos = at_least(Severity::kInfo);
  ASSERT_EQ(infos.size(), 1u) << dump();
  EXPECT_THAT(infos[0]->message, HasSubstr("master.cf runs no smtpd service"));
}

TEST_F(Wiring, NotRootChecksFromHere) {
  probe_.root = false;
  run();
  auto infos = at_least(Severity::kInfo);
  ASSERT_EQ(infos.size(), 1u) << dump();
  EXPECT_THAT(infos[0]->message, HasSubstr("not running as root"));
  ASSERT_FALSE(probe_.talked.empty());
  EXPECT_FALSE(probe_.talked[0].as);
  EXPECT_THAT(report_.findings.back().message, Not(HasSubstr(" as postfix")));
}

TEST_F(Wiring, UnknownMailOwnerAndRootSmtpd) {
  main_["mail_owner"] = "nosuchuser";
  run();
  const Finding& f = only(Severity::kWarning);
  EXPECT_THAT(f.message, HasSubstr("mail_owner nosuchuser (the user smtpd runs as) is not a user"));
  master_ = "smtp inet n n y - - smtpd\n";  // unprivileged = n: runs as root
  run();
  EXPECT_THAT(at_least(Severity::kWarning), IsEmpty()) << dump();
  EXPECT_EQ(report_.services[0].user, "root");
  EXPECT_EQ(probe_.talked.back().as->uid, 0u);
}

TEST_F(Wiring, MilterMapsAreMentioned) {
  main_["smtpd_milter_maps"] = "cidr:/etc/postfix/milter_map";
  run();
  auto infos = at_least(Severity::kInfo);
  ASSERT_EQ(infos.size(), 1u) << dump();
  EXPECT_THAT(infos[0]->message, HasSubstr("smtpd_milter_maps = cidr:/etc/postfix/milter_map"));
}

// ---------------------------------------------------------------- reading it

// read_wiring() over a fake postconf without -xP (older Postfix): -P values
// are expanded here, restriction classes are asked for.
TEST(ReadWiring, PostconfWithoutXPAndRestrictionClasses) {
  char tmpl[] = "/tmp/esmtp-wiring-pc-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, prog = dir + "/postconf";
  std::ofstream(prog)
      << "#!/bin/sh\n"
         "echo \"$@\" >> " +
             dir +
             "/calls\n"
             "case \"$*\" in\n"
             "  *-xP*) echo 'postconf: fatal: invalid option' >&2; exit 1;;\n"
             "  *-P*) echo 'submission/inet/smtpd_milters = $esock, unix:x';;\n"
             "  *-M*) echo 'smtp inet n - y - - smtpd';\n"
             "        echo 'submission inet n - - - - smtpd -o smtpd_milters=$esock';;\n"
             "  *esock*) echo 'esock = unix:esmtp-inspect/milter.sock';;\n"
             "  *inspect*) echo 'inspect = check_policy_service unix:p.sock';;\n"
             "esac\n";
  chmod(prog.c_str(), 0755);
  std::string error;
  auto in = read_wiring(prog, "/etc/pf", {{"smtpd_restriction_classes", "inspect"}}, &error);
  ASSERT_TRUE(in) << error;
  EXPECT_EQ(in->services.size(), 2u);
  EXPECT_EQ(in->overrides["submission/inet"]["smtpd_milters"],
            "unix:esmtp-inspect/milter.sock, unix:x");
  EXPECT_EQ(in->main["inspect"], "check_policy_service unix:p.sock");
  std::ifstream calls(dir + "/calls");
  std::vector<std::string> lines;
  for (std::string l; std::getline(calls, l);) lines.push_back(l);
  EXPECT_THAT(lines, ElementsAre("-c /etc/pf -M", "-c /etc/pf -xP", "-c /etc/pf -P",
                                 "-c /etc/pf -x esock", "-c /etc/pf -x inspect"));
  std::system(("rm -rf " + dir).c_str());
}

// ---------------------------------------------------------------- the real probe

// A unix socket in a temporary queue directory that answers like our milter
// (or not at all), on its own thread.
class ProbeServer {
 public:
  enum class Mode { kMilter, kPolicy, kSilent };
  ProbeServer(const std::string& path, Mode mode) : mode_(mode) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    ::unlink(path.c_str());
    ok_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
          listen(fd_, 4) == 0;
    if (ok_) thread_ = std::thread([this] { serve(); });
  }
  ~ProbeServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  bool ok() const { return ok_; }
  std::string received() const { return received_; }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[256];
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n > 0) received_.assign(buf, static_cast<std::size_t>(n));
      if (mode_ == Mode::kMilter) {
        std::string r = milter_reply();
        (void)!::write(c, r.data(), r.size());
      } else if (mode_ == Mode::kPolicy) {
        (void)!::write(c, "action=DUNNO\n\n", 14);
      } else {
        ::usleep(1500 * 1000);
      }
      ::close(c);
    }
  }
  Mode mode_;
  int fd_ = -1;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::string received_;
};

class RealProbe : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/esmtp-wiring-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    queue_ = tmpl;
    chmod(queue_.c_str(), 0755);
    mkdir((queue_ + "/esmtp-inspect").c_str(), 0755);
  }
  void TearDown() override { std::system(("rm -rf " + queue_).c_str()); }

  ProbeTarget target(const std::string& name, bool chrooted, Protocol p = Protocol::kMilter) {
    ProbeTarget t;
    t.endpoint = parse_endpoint("unix:" + name, EndpointSyntax::kPostfix);
    t.protocol = p;
    t.host_path = socket_host_path(name, queue_, chrooted);
    t.queue_directory = queue_;
    t.chrooted = chrooted;
    return t;
  }
  std::string queue_;
};

TEST_F(RealProbe, MilterAndPolicyAnswers) {
  ProbeServer milter(queue_ + "/esmtp-inspect/milter.sock", ProbeServer::Mode::kMilter);
  ProbeServer policy(queue_ + "/esmtp-inspect/policy.sock", ProbeServer::Mode::kPolicy);
  ASSERT_TRUE(milter.ok() && policy.ok());
  SystemProbe probe(std::chrono::milliseconds(2000));
  auto r = probe.talk(target("esmtp-inspect/milter.sock", false));
  ASSERT_EQ(r.stage, ProbeResult::Stage::kDone) << std::strerror(r.error) << r.detail;
  std::string error;
  EXPECT_TRUE(parse_milter_reply(r.reply, &error)) << error;
  EXPECT_EQ(milter.received(), milter_probe_request());
  r = probe.talk(target("esmtp-inspect/policy.sock", false, Protocol::kPolicy));
  EXPECT_EQ(r.reply, "action=DUNNO\n\n");
  EXPECT_EQ(policy.received(), policy_probe_request());
  FileState st = probe.stat(queue_ + "/esmtp-inspect/milter.sock");
  EXPECT_TRUE(st.socket);
  EXPECT_EQ(probe.stat(queue_).kind, "directory");
  EXPECT_EQ(probe.stat(queue_ + "/none").error, ENOENT);
}

TEST_F(RealProbe, RefusedMissingAndSilent) {
  SystemProbe probe(std::chrono::milliseconds(300));
  // A socket nobody listens on any more.
  {
    ProbeServer gone(queue_ + "/esmtp-inspect/gone.sock", ProbeServer::Mode::kSilent);
    ASSERT_TRUE(gone.ok());
  }
  auto r = probe.talk(target("esmtp-inspect/gone.sock", false));
  EXPECT_EQ(r.stage, ProbeResult::Stage::kConnect);
  EXPECT_EQ(r.error, ECONNREFUSED);
  r = probe.talk(target("esmtp-inspect/none.sock", false));
  EXPECT_EQ(r.stage, ProbeResult::Stage::kConnect);
  EXPECT_EQ(r.error, ENOENT);
  ProbeServer silent(queue_ + "/esmtp-inspect/silent.sock", ProbeServer::Mode::kSilent);
  auto start = std::chrono::steady_clock::now();
  r = probe.talk(target("esmtp-inspect/silent.sock", false));
  EXPECT_EQ(r.stage, ProbeResult::Stage::kAnswer);
  EXPECT_EQ(r.error, ETIMEDOUT);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  std::string long_name(200, 'x');
  r = probe.talk(target(long_name, false));
  EXPECT_EQ(r.error, ENAMETOOLONG);
}

TEST_F(RealProbe, ChrootAndUserAsSmtpdHasThem) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (chroot, setuid)";
  passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  // An absolute name: inside the queue directory when chrooted, not otherwise.
  mkdir((queue_ + "/run").c_str(), 0755);
  const std::string name = "/run/esmtp-wiring-test-" + std::to_string(getpid()) + ".sock";
  ProbeServer inside(queue_ + name, ProbeServer::Mode::kMilter);
  ASSERT_TRUE(inside.ok());
  SystemProbe probe(std::chrono::milliseconds(2000));
  EXPECT_EQ(probe.talk(target(name, true)).stage, ProbeResult::Stage::kDone);
  auto r = probe.talk(target(name, false));
  EXPECT_EQ(r.stage, ProbeResult::Stage::kConnect);
  EXPECT_EQ(r.error, ENOENT);

  // The user: a socket only root may write to.
  ProbeServer root_only(queue_ + "/esmtp-inspect/root.sock", ProbeServer::Mode::kMilter);
  chmod((queue_ + "/esmtp-inspect/root.sock").c_str(), 0600);
  ProbeTarget t = target("esmtp-inspect/root.sock", true);
  EXPECT_EQ(probe.talk(t).stage, ProbeResult::Stage::kDone);
  t.as = RunAs{"nobody", nobody->pw_uid, nobody->pw_gid};
  r = probe.talk(t);
  EXPECT_EQ(r.stage, ProbeResult::Stage::kConnect);
  EXPECT_EQ(r.error, EACCES);
}

}  // namespace
}  // namespace esmtp::selfcheck
