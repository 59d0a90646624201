// The one endpoint parser (common/util/endpoint.h) in its three syntaxes:
// every accepted form and every rejection, with the texts the daemons, the
// configuration loader and selfcheck print.
#include "common/util/endpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/config/config_loader.h"

namespace esmtp {
namespace {

using ::testing::HasSubstr;
using Kind = Endpoint::Kind;

Endpoint milter(std::string_view t) {
  return parse_endpoint(t, EndpointSyntax::kMilterSocket);
}
Endpoint listen(std::string_view t) {
  return parse_endpoint(t, EndpointSyntax::kPolicyListen);
}
Endpoint postfix(std::string_view t) {
  return parse_endpoint(t, EndpointSyntax::kPostfix);
}

TEST(Endpoint, MilterSocketUnixForms) {
  auto e = milter("unix:/var/spool/postfix/esmtp-inspect/milter.sock");
  EXPECT_EQ(e.kind, Kind::kUnix);
  EXPECT_TRUE(e.local());
  EXPECT_EQ(e.transport, "unix");
  EXPECT_EQ(e.path, "/var/spool/postfix/esmtp-inspect/milter.sock");
  e = milter("local:/x.sock");
  EXPECT_EQ(e.kind, Kind::kUnix);
  EXPECT_EQ(e.transport, "local");
  EXPECT_EQ(e.path, "/x.sock");
  e = milter("/x.sock");  // libmilter takes a bare path
  EXPECT_EQ(e.kind, Kind::kUnix);
  EXPECT_EQ(e.path, "/x.sock");
  // The form only: a relative path is the configuration loader's to refuse.
  EXPECT_EQ(milter("unix:relative.sock").path, "relative.sock");
}

TEST(Endpoint, MilterSocketInetForms) {
  auto e = milter("inet:8891@[::1]");
  EXPECT_EQ(e.kind, Kind::kInet);
  EXPECT_FALSE(e.local());
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 8891);
  e = milter("inet:8891@127.0.0.1");
  EXPECT_EQ(e.host, "127.0.0.1");
  e = milter("inet:8891");
  EXPECT_EQ(e.kind, Kind::kInet);
  EXPECT_EQ(e.host, "");  // every address
  e = milter("inet6:8891@::1");
  EXPECT_EQ(e.kind, Kind::kInet);
  EXPECT_EQ(e.transport, "inet6");
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(milter("inet:65535@localhost").port, 65535);
}

TEST(Endpoint, MilterSocketRejections) {
  for (const char* bad :
       {"inet:0@127.0.0.1", "inet:65536", "inet:x@host", "inet:@host", "inet6:", "inet:-1@h"}) {
    const auto e = milter(bad);
    EXPECT_EQ(e.kind, Kind::kInvalid) << bad;
    EXPECT_EQ(e.error, "\"" + std::string(bad) + "\": the port must be a number from 1 to 65535")
        << bad;
  }
  for (const char* bad : {"tcp:1@x", "unix:", "local:", "", "milter.sock", "inet"}) {
    const auto e = milter(bad);
    EXPECT_EQ(e.kind, Kind::kInvalid) << bad;
    EXPECT_EQ(e.error,
              "\"" + std::string(bad) + "\" is not a milter socket (unix:/path or inet:PORT@HOST)")
        << bad;
  }
}

TEST(Endpoint, PolicyListenForms) {
  auto e = listen("unix:/p.sock");
  EXPECT_EQ(e.kind, Kind::kUnix);
  EXPECT_EQ(e.path, "/p.sock");
  e = listen("inet:127.0.0.1:10040");
  EXPECT_EQ(e.kind, Kind::kInet);
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 10040);
  e = listen("inet:[::1]:10040");
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 10040);
  e = listen("inet:::1:10040");  // the last colon separates the port
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(listen("inet:localhost:1").host, "localhost");
}

TEST(Endpoint, PolicyListenRejections) {
  for (const char* bad : {"inet:127.0.0.1:0", "inet:h:99999", "inet:h:", "inet:h:port"}) {
    const auto e = listen(bad);
    EXPECT_EQ(e.kind, Kind::kInvalid) << bad;
    EXPECT_EQ(e.error, "\"" + std::string(bad) + "\": the port must be a number from 1 to 65535")
        << bad;
  }
  // local: and a bare path are libmilter's words, not the policy's; an
  // empty host is not "every address" here.
  for (const char* bad :
       {"local:/p.sock", "/p.sock", "inet::10040", "inet:10040", "unix:", "", "inet6:[::1]:1"}) {
    const auto e = listen(bad);
    EXPECT_EQ(e.kind, Kind::kInvalid) << bad;
    EXPECT_EQ(e.error,
              "\"" + std::string(bad) + "\" is not a listen address (unix:/path or inet:HOST:PORT)")
        << bad;
  }
}

TEST(Endpoint, PostfixForms) {
  auto e = postfix("unix:esmtp-inspect/milter.sock");
  EXPECT_EQ(e.kind, Kind::kUnix);
  EXPECT_EQ(e.path, "esmtp-inspect/milter.sock");  // relative to the queue directory
  e = postfix("  LOCAL:/run/x.sock ");
  EXPECT_EQ(e.kind, Kind::kUnix);
  EXPECT_EQ(e.text, "LOCAL:/run/x.sock");
  EXPECT_EQ(e.transport, "local");
  EXPECT_EQ(e.path, "/run/x.sock");
  e = postfix("inet:127.0.0.1:8891");
  EXPECT_EQ(e.kind, Kind::kInet);
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 8891);
  e = postfix("inet:[::1]:10040");
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 10040);
}

TEST(Endpoint, PostfixRejections) {
  EXPECT_EQ(postfix("/run/x.sock").error,
            "Postfix needs transport:endpoint, e.g. unix:/run/x.sock");
  EXPECT_EQ(postfix("milter.sock").error,
            "Postfix needs transport:endpoint instead of \"milter.sock\"");
  EXPECT_EQ(postfix("unix:").error, "Postfix needs transport:endpoint instead of \"unix:\"");
  EXPECT_EQ(postfix(":x").error, "Postfix needs transport:endpoint instead of \":x\"");
  EXPECT_EQ(postfix("tcp:1.2.3.4:5").error,
            "unknown transport \"tcp\" (Postfix knows unix, local and inet)");
  for (const char* rest : {"127.0.0.1", ":8891", "h:0", "[::1", "::1:10040"}) {
    const auto e = postfix("inet:" + std::string(rest));
    EXPECT_EQ(e.kind, Kind::kInvalid) << rest;
    EXPECT_EQ(e.error, "inet: needs host:port, not \"" + std::string(rest) + "\"") << rest;
  }
  // libmilter's forms are not Postfix's.
  EXPECT_EQ(postfix("inet:8891@127.0.0.1").kind, Kind::kInvalid);
}

// The daemons' -s and -l, and milter.socket / policy.listen in the file, say
// what the parser says, then refuse relative paths.
TEST(Endpoint, DaemonOptionErrors) {
  EXPECT_EQ(milter_socket_error("inet:0"), "\"inet:0\": the port must be a number from 1 to 65535");
  EXPECT_EQ(listen_error("tcp:x"),
            "\"tcp:x\" is not a listen address (unix:/path or inet:HOST:PORT)");
  EXPECT_THAT(milter_socket_error("unix:rel.sock").value_or(""),
              HasSubstr("\"unix:rel.sock\" needs an absolute path"));
  EXPECT_THAT(listen_error("unix:rel.sock").value_or(""),
              HasSubstr("\"unix:rel.sock\" needs an absolute path"));
  EXPECT_FALSE(milter_socket_error("inet:8891@127.0.0.1").has_value());
  EXPECT_FALSE(listen_error("unix:/run/p.sock").has_value());
}

}  // namespace
}  // namespace esmtp
