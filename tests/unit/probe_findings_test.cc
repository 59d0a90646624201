// tools/probe/probe_findings: what each observation means, over made-up
// probe results (no network, no DNS).
#include "tools/probe/probe_findings.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace esmtp::probe {
namespace {

IpAddress ip(const char* s) {
  return *IpAddress::parse(s);
}

SmtpReply reply(int code, std::vector<std::string> lines) {
  SmtpReply r;
  r.code = code;
  r.lines = std::move(lines);
  return r;
}

DnsAnswer names(std::vector<std::string> n) {
  DnsAnswer a;
  a.status = DnsStatus::kOk;
  a.names = std::move(n);
  return a;
}

DnsAnswer addrs(std::vector<const char*> v) {
  DnsAnswer a;
  a.status = DnsStatus::kOk;
  for (auto* s : v) a.addresses.push_back(ip(s));
  return a;
}

DnsAnswer none() {
  DnsAnswer a;
  a.status = DnsStatus::kNone;
  return a;
}

// A healthy receiving server: banner, PTR and A agree; STARTTLS with a
// CA-signed certificate for the banner name.
ProbeResult healthy() {
  ProbeResult r;
  r.target = r.host = "203.0.113.5";
  r.address = ip("203.0.113.5");
  r.connected = true;
  r.banner_received = true;
  r.banner_ms = 12;
  r.banner = reply(220, {"mx.example.org ESMTP Postfix"});
  r.banner_name = "mx.example.org";
  r.ehlo_done = true;
  r.ehlo = reply(250, {"mx.example.org", "PIPELINING", "STARTTLS"});
  r.extensions = {{"PIPELINING", ""}, {"STARTTLS", ""}};
  r.starttls = Starttls::kOffered;
  r.tls_attempted = true;
  TlsInfo t;
  t.protocol = "TLSv1.3";
  t.cipher = "TLS_AES_256_GCM_SHA384";
  t.dns_names = {"mx.example.org"};
  t.not_after = "2027-01-01T00:00:00Z";
  t.days_left = 200;
  t.verify = "ok";
  t.matches_banner_name = true;
  r.tls = t;
  NameAddressCheck n;
  n.name = "mx.example.org";
  n.address = *r.address;
  n.forward = addrs({"203.0.113.5"});
  n.ptr = names({"mx.example.org"});
  n.confirmed_names = {"mx.example.org"};
  r.names = n;
  return r;
}

const Finding* find(const std::vector<Finding>& fs, std::string_view id) {
  auto it = std::find_if(fs.begin(), fs.end(), [&](const Finding& f) { return f.id == id; });
  return it == fs.end() ? nullptr : &*it;
}

TEST(ProbeFindings, HealthyServerIsAllOk) {
  auto r = healthy();
  auto fs = analyze(r, {});
  EXPECT_EQ(worst(fs), Severity::kOk);
  EXPECT_EQ(exit_code(r, fs), 0);
  ASSERT_NE(find(fs, "banner_name_ok"), nullptr);
  ASSERT_NE(find(fs, "tls_ok"), nullptr);
  EXPECT_EQ(find(fs, "tls_ok")->title, "TLS TLSv1.3 TLS_AES_256_GCM_SHA384");
}

TEST(ProbeFindings, MaskedBannerAndStarttls) {
  auto r = healthy();
  r.banner = reply(220, {"*****************************"});
  r.banner_name = "";
  r.banner_masked = true;
  r.starttls = Starttls::kMasked;
  r.masked_extensions = {"XXXXXXXA"};
  r.tls_attempted = false;
  r.tls.reset();
  r.ehlo_greeting_name = "mx.example.org";
  auto fs = analyze(r, {});
  ASSERT_NE(find(fs, "banner_masked"), nullptr);
  EXPECT_NE(find(fs, "banner_masked")->meaning.find("still names the server: mx.example.org."),
            std::string::npos);
  EXPECT_EQ(find(fs, "banner_masked")->severity, Severity::kProblem);
  EXPECT_NE(find(fs, "banner_masked")->action.find("no mask-banner"), std::string::npos);
  ASSERT_NE(find(fs, "starttls_masked"), nullptr);
  EXPECT_NE(find(fs, "starttls_masked")->action.find("allow-tls"), std::string::npos);
  EXPECT_EQ(find(fs, "ehlo_masked")->title, "EHLO extensions masked: XXXXXXXA");
  // No banner name to compare, and no "banner does not start with a host name" either.
  EXPECT_EQ(find(fs, "banner_no_hostname"), nullptr);
  EXPECT_EQ(find(fs, "banner_ptr_mismatch"), nullptr);
  EXPECT_EQ(exit_code(r, fs), 2);
}

TEST(ProbeFindings, SlowBannerNamesTheCauses) {
  auto r = healthy();
  r.banner_ms = 4200;
  auto fs = analyze(r, {.slow_banner_ms = 3000});
  const Finding* f = find(fs, "banner_slow");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->title, "slow banner: 4200 ms (threshold 3000 ms)");
  for (const char* cause : {"reverse DNS", "load", "tarpitting", "inspecting firewall"})
    EXPECT_NE(f->meaning.find(cause), std::string::npos) << cause;
  EXPECT_EQ(exit_code(r, fs), 1);
  EXPECT_EQ(find(analyze(r, {.slow_banner_ms = 5000}), "banner_slow"), nullptr);
}

TEST(ProbeFindings, BannerPtrMismatchMattersOnlyForASender) {
  auto r = healthy();
  r.names->ptr = names({"host-5.example.net"});
  r.names->confirmed_names = {"host-5.example.net"};
  auto fs = analyze(r, {});
  const Finding* f = find(fs, "banner_ptr_mismatch");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kInfo);
  EXPECT_NE(f->meaning.find("informational (RFC 5321 section 4.2)"), std::string::npos);
  EXPECT_EQ(exit_code(r, fs), 0);

  fs = analyze(r, {.sends_mail = true});
  f = find(fs, "banner_ptr_mismatch");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kWarning);
  EXPECT_NE(f->action.find("host-5.example.net"), std::string::npos);
  EXPECT_EQ(exit_code(r, fs), 1);
}

TEST(ProbeFindings, NoPtrIsAProblemOnlyForASender) {
  auto r = healthy();
  r.names->ptr = none();
  r.names->confirmed_names.clear();
  EXPECT_EQ(find(analyze(r, {}), "ptr_missing")->severity, Severity::kInfo);
  EXPECT_EQ(find(analyze(r, {.sends_mail = true}), "ptr_missing")->severity, Severity::kProblem);
}

TEST(ProbeFindings, DnsFailureIsAWarningNotAMismatch) {
  auto r = healthy();
  r.names->ptr = DnsAnswer{};  // kTempError
  r.names->ptr.error = "timeout";
  r.names->confirmed_names.clear();
  auto fs = analyze(r, {});
  const Finding* f = find(fs, "dns_temperror");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->title, "PTR lookup of 203.0.113.5 failed (timeout)");
  EXPECT_EQ(find(fs, "banner_ptr_mismatch"), nullptr);
}

TEST(ProbeFindings, BannerNameElsewhereOrUnresolvable) {
  auto r = healthy();
  r.names->forward = addrs({"198.51.100.1"});
  auto fs = analyze(r, {});
  ASSERT_NE(find(fs, "banner_name_elsewhere"), nullptr);
  EXPECT_EQ(find(fs, "banner_name_elsewhere")->title,
            "banner name mx.example.org resolves to 198.51.100.1, not to 203.0.113.5");
  r.names->forward = none();
  fs = analyze(r, {.sends_mail = true});
  EXPECT_EQ(find(fs, "banner_name_unresolvable")->severity, Severity::kWarning);
}

TEST(ProbeFindings, Certificates) {
  auto r = healthy();
  r.tls->self_signed = true;
  r.tls->matches_banner_name = false;
  r.tls->days_left = 3;
  auto fs = analyze(r, {});
  EXPECT_EQ(find(fs, "cert_self_signed")->severity, Severity::kInfo);
  EXPECT_EQ(find(fs, "cert_name_mismatch")->severity, Severity::kWarning);
  EXPECT_EQ(find(fs, "cert_expires_soon")->severity, Severity::kWarning);
  r.tls->days_left = -1;
  EXPECT_EQ(find(analyze(r, {}), "cert_expired")->severity, Severity::kProblem);
  r.tls.reset();
  r.tls_error = "connection closed during the handshake";
  fs = analyze(r, {});
  EXPECT_EQ(find(fs, "tls_failed")->title,
            "TLS handshake failed: connection closed during the handshake");
  EXPECT_EQ(exit_code(r, fs), 2);
}

TEST(ProbeFindings, NoStarttls) {
  auto r = healthy();
  r.starttls = Starttls::kAbsent;
  r.tls_attempted = false;
  r.tls.reset();
  auto fs = analyze(r, {});
  EXPECT_EQ(find(fs, "starttls_absent")->severity, Severity::kWarning);
  EXPECT_EQ(exit_code(r, fs), 1);
}

TEST(ProbeFindings, BannerMissingRefusedOrWithoutName) {
  auto r = healthy();
  r.banner_received = false;
  r.banner_error = "timeout";
  auto fs = analyze(r, {});
  EXPECT_EQ(find(fs, "banner_missing")->title, "no banner: timeout");
  EXPECT_EQ(exit_code(r, fs), 2);

  r = healthy();
  r.banner = reply(554, {"5.7.1 no"});
  EXPECT_EQ(find(analyze(r, {}), "banner_refused")->title,
            "the server refuses service: 554 5.7.1 no");

  r = healthy();
  r.banner = reply(220, {"Welcome"});
  r.banner_name = "";
  EXPECT_EQ(find(analyze(r, {}), "banner_no_hostname")->severity, Severity::kInfo);
}

TEST(ProbeFindings, CouldNotProbeIsExitThree) {
  ProbeResult r;
  r.host = "nx.example.org";
  r.resolve_error = "no A/AAAA record";
  auto fs = analyze(r, {});
  EXPECT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].id, "resolve_failed");
  EXPECT_EQ(exit_code(r, fs), 3);
  r.address = ip("192.0.2.1");
  r.connect_error = "timeout";
  fs = analyze(r, {});
  EXPECT_EQ(fs[0].id, "connect_failed");
  EXPECT_EQ(exit_code(r, fs), 3);
}

TEST(ProbeFindings, LongLine) {
  auto r = healthy();
  r.long_line = LongLineTest{1100, "reset", "connection reset"};
  auto fs = analyze(r, {});
  EXPECT_EQ(find(fs, "long_line_reset")->title,
            "connection dropped after a 1100-octet header line (connection reset)");
  r.long_line = LongLineTest{1100, "untested", "RCPT refused: 554 5.7.1 no"};
  EXPECT_EQ(find(analyze(r, {}), "long_line_untested")->severity, Severity::kInfo);
}

}  // namespace
}  // namespace esmtp::probe
