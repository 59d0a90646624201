// esmtp-inspect selfcheck: postconf output parsing, banner names, interface
// lists, running a (fake) postconf, and the findings over a fake DNS.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tests/support/fake_resolver.h"
#include "tools/selfcheck/certificate.h"
#include "tools/selfcheck/postconf.h"
#include "tools/selfcheck/selfcheck.h"

namespace esmtp::selfcheck {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

TEST(PostconfParse, NameValueLinesContinuationsAndJunk) {
  std::size_t skipped = 99;
  auto v = parse_postconf_output(
      "myhostname = mail.example.org\n"
      "smtpd_banner = mail.example.org ESMTP Postfix (Debian/GNU)\n"
      "smtp_bind_address =\n"
      "inet_interfaces = 192.0.2.1,\n"
      "    192.0.2.2\n"
      "postconf: warning: /etc/postfix/main.cf: unused parameter: foo=bar\n"
      "mydomain = example.org\r\n"
      "\n"
      "myhostname = later.example.org\n",
      &skipped);
  EXPECT_EQ(v["myhostname"], "later.example.org");  // the last one wins, as in main.cf
  EXPECT_EQ(v["smtpd_banner"], "mail.example.org ESMTP Postfix (Debian/GNU)");
  EXPECT_EQ(v["smtp_bind_address"], "");
  EXPECT_EQ(v["inet_interfaces"], "192.0.2.1, 192.0.2.2");
  EXPECT_EQ(v["mydomain"], "example.org");
  EXPECT_EQ(v.count("postconf: warning: /etc/postfix/main.cf: unused parameter: foo"), 0u);
  EXPECT_EQ(skipped, 1u);
}

TEST(PostconfParse, GarbageAndBinaryAreSkippedNotFatal) {
  std::string junk = "\x01\x02\xff = x\n   leading continuation\n=\n = value\nno equals sign\n";
  junk += std::string(10000, 'a') + " = long name\n";
  std::size_t skipped = 0;
  auto v = parse_postconf_output(junk, &skipped);
  EXPECT_THAT(v, IsEmpty());
  EXPECT_EQ(skipped, 6u);
}

TEST(BannerName, FirstWordOfTheExpandedBanner) {
  EXPECT_EQ(banner_hostname("mail.example.org ESMTP Postfix"), "mail.example.org");
  EXPECT_EQ(banner_hostname("  mail.example.org\tESMTP"), "mail.example.org");
  EXPECT_EQ(banner_hostname("mail.example.org"), "mail.example.org");
  EXPECT_EQ(banner_hostname(""), "");
  EXPECT_EQ(banner_hostname("ESMTP Postfix"), "ESMTP");
  EXPECT_EQ(banner_hostname("****************************"), "****************************");
}

TEST(BannerName, Fqdn) {
  EXPECT_TRUE(is_fqdn("mail.example.org"));
  EXPECT_TRUE(is_fqdn("mail.example.org."));
  EXPECT_TRUE(is_fqdn("a-b.c1.example"));
  EXPECT_FALSE(is_fqdn("localhost"));
  EXPECT_FALSE(is_fqdn("ESMTP"));
  EXPECT_FALSE(is_fqdn("****"));
  EXPECT_FALSE(is_fqdn("XXXXXXXX"));
  EXPECT_FALSE(is_fqdn("-bad.example.org"));
  EXPECT_FALSE(is_fqdn("bad..example.org"));
  EXPECT_FALSE(is_fqdn("under_score.example.org"));
  EXPECT_FALSE(is_fqdn(""));
  EXPECT_FALSE(is_fqdn(std::string(64, 'a') + ".example.org"));
  EXPECT_FALSE(is_fqdn(std::string(250, 'a') + ".org"));
}

TEST(Interfaces, KeywordsAddressesAndNames) {
  auto all = parse_interfaces("all");
  EXPECT_EQ(all.keyword, "all");
  EXPECT_THAT(all.entries, IsEmpty());
  EXPECT_EQ(parse_interfaces("Loopback-Only").keyword, "loopback-only");
  auto list = parse_interfaces("192.0.2.1, [2001:db8::1]  mail.example.org,");
  ASSERT_EQ(list.entries.size(), 3u);
  EXPECT_EQ(list.entries[0].address->str(), "192.0.2.1");
  ASSERT_TRUE(list.entries[1].address);
  EXPECT_TRUE(list.entries[1].address->v6);
  EXPECT_FALSE(list.entries[2].address);
  EXPECT_EQ(list.entries[2].text, "mail.example.org");
  EXPECT_THAT(split_list(" a,b  c ,, "), ElementsAre("a", "b", "c"));
  EXPECT_TRUE(is_loopback(*IpAddress::parse("127.0.0.30")));
  EXPECT_TRUE(is_loopback(*IpAddress::parse("::1")));
  EXPECT_FALSE(is_loopback(*IpAddress::parse("192.0.2.1")));
}

// A fake postconf: a shell script that records its arguments.
class FakePostconf : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/esmtp-selfcheck-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string script(const std::string& body) {
    std::string path = dir_ + "/postconf";
    std::ofstream(path) << "#!/bin/sh\n" << body;
    chmod(path.c_str(), 0755);
    return path;
  }
  std::string dir_;
};

TEST_F(FakePostconf, PassesConfigDirAndExpandFlagAndParses) {
  auto prog = script("echo \"$@\" > " + dir_ +
                     "/args\necho 'myhostname = mail.example.org'\n"
                     "echo 'postconf: warning: open master.cf' >&2\n");
  std::string error;
  auto v = run_postconf(prog, "/etc/pf", {"myhostname", "smtpd_banner"},
                        std::chrono::milliseconds(5000), &error);
  ASSERT_TRUE(v) << error;
  EXPECT_EQ((*v)["myhostname"], "mail.example.org");
  std::ifstream in(dir_ + "/args");
  std::string args;
  std::getline(in, args);
  EXPECT_EQ(args, "-c /etc/pf -x myhostname smtpd_banner");
}

TEST_F(FakePostconf, FailureNamesTheFatalLine) {
  auto prog = script(
      "echo 'postconf: warning: something' >&2\n"
      "echo 'postconf: fatal: open /nowhere/main.cf: No such file or directory' >&2\nexit 1\n");
  std::string error;
  EXPECT_FALSE(
      run_postconf(prog, "/nowhere", {"myhostname"}, std::chrono::milliseconds(5000), &error));
  EXPECT_THAT(error, HasSubstr("failed (exit 1): postconf: fatal: open /nowhere/main.cf"));
}

TEST_F(FakePostconf, HangingPostconfIsKilledAtTheTimeout) {
  auto prog = script("exec sleep 30\n");
  std::string error;
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(run_postconf(prog, "", {"myhostname"}, std::chrono::milliseconds(300), &error));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_THAT(error, HasSubstr("did not finish within 300 ms"));
}

TEST_F(FakePostconf, EndlessOutputIsCapped) {
  auto prog = script("yes 'myhostname = x.example.org'\n");
  std::string error;
  EXPECT_FALSE(run_postconf(prog, "", {"myhostname"}, std::chrono::milliseconds(10000), &error));
  EXPECT_THAT(error, HasSubstr("more than"));
}

TEST(RunPostconf, MissingProgram) {
  std::string error;
  EXPECT_FALSE(run_postconf("/nonexistent/postconf", "", {"myhostname"},
                            std::chrono::milliseconds(1000), &error));
  EXPECT_THAT(error, HasSubstr("cannot run /nonexistent/postconf"));
}

PostconfValues base_settings() {
  return {{"mail_version", "3.7.11"},
          {"config_directory", "/etc/postfix"},
          {"myhostname", "mail.example.org"},
          {"smtpd_banner", "mail.example.org ESMTP Postfix"},
          {"smtp_helo_name", "mail.example.org"},
          {"inet_interfaces", "192.0.2.30"},
          {"inet_protocols", "ipv4"},
          {"smtpd_tls_security_level", ""}};
}

const Finding* find(const Report& r, std::string_view check, std::string_view subject = {}) {
  for (const auto& f : r.findings)
    if (f.check == check && (subject.empty() || f.subject == subject)) return &f;
  return nullptr;
}

class SelfcheckEval : public ::testing::Test {
 protected:
  void SetUp() override {
    dns.ptrs["192.0.2.30"] = {"mail.example.org"};
    dns.hosts["mail.example.org"] = {"192.0.2.30"};
  }
  Report run(const PostconfValues& s, std::vector<std::string> addresses = {}) {
    EvaluateOptions o;
    for (const auto& a : addresses) o.addresses.push_back(*IpAddress::parse(a));
    o.dns_wait = std::chrono::milliseconds(2000);
    return evaluate(s, dns, o);
  }
  FakeResolver dns;
};

TEST_F(SelfcheckEval, ConsistentNamesAndDns) {
  Report r = run(base_settings());
  // One non-loopback address in inet_interfaces is Postfix's source address.
  ASSERT_EQ(r.sending.size(), 1u);
  EXPECT_EQ(r.sending[0].source, "inet_interfaces");
  EXPECT_EQ(find(r, "names")->severity, Severity::kOk);
  EXPECT_EQ(find(r, "helo_ptr", "192.0.2.30")->severity, Severity::kOk);
  EXPECT_EQ(find(r, "banner_dns", "192.0.2.30")->severity, Severity::kOk);
  // No certificate: STARTTLS not offered is information, not a failure.
  EXPECT_EQ(find(r, "certificate")->severity, Severity::kInfo);
  EXPECT_EQ(r.exit_code(), 0);
  auto j = nlohmann::json::parse(format_json(r));
  EXPECT_EQ(j["status"], "info");
  EXPECT_EQ(j["exit_code"], 0);
  EXPECT_EQ(j["banner_name"], "mail.example.org");
  EXPECT_EQ(j["sending"][0]["address"], "192.0.2.30");
  EXPECT_EQ(j["counts"]["ok"], 3);
}

TEST_F(SelfcheckEval, HeloWithoutMatchingPtrIsAProblemWithBothFixes) {
  dns.ptrs["192.0.2.31"] = {"host31.isp.example.net"};
  dns.hosts["host31.isp.example.net"] = {"192.0.2.31"};
  auto s = base_settings();
  s["smtp_bind_address"] = "192.0.2.31";
  Report r = run(s);
  const Finding* f = find(r, "helo_ptr", "192.0.2.31");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kProblem);
  EXPECT_THAT(f->message, HasSubstr("the PTR of 192.0.2.31 is host31.isp.example.net, not the "
                                    "HELO name mail.example.org (sending, smtp_bind_address)"));
  EXPECT_THAT(f->fix, HasSubstr("add PTR 192.0.2.31 -> mail.example.org "
                                "(31.2.0.192.in-addr.arpa. PTR mail.example.org."));
  EXPECT_THAT(f->fix, HasSubstr("add A mail.example.org -> 192.0.2.31"));
  EXPECT_THAT(f->fix, HasSubstr("postconf -e 'smtp_helo_name = host31.isp.example.net'"));
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_THAT(format_text(r), HasSubstr("PROBLEM  helo_ptr: the PTR of 192.0.2.31"));
}

TEST_F(SelfcheckEval, NoPtrAndNotForwardConfirmed) {
  auto s = base_settings();
  s["smtp_bind_address"] = "192.0.2.32";
  Report r = run(s);
  const Finding* f = find(r, "helo_ptr", "192.0.2.32");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kProblem);
  EXPECT_THAT(f->message, HasSubstr("192.0.2.32 has no PTR record"));

  dns.ptrs["192.0.2.33"] = {"mail.example.org"};
  s["smtp_bind_address"] = "192.0.2.33";
  r = run(s);
  f = find(r, "helo_ptr", "192.0.2.33");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kProblem);
  EXPECT_THAT(f->message,
              HasSubstr("mail.example.org resolves to 192.0.2.30 (not forward-confirmed)"));
  EXPECT_EQ(f->fix, "add A mail.example.org -> 192.0.2.33 (mail.example.org. A 192.0.2.33)");
}

TEST_F(SelfcheckEval, BannerNameElsewhereIsOnlyInformational) {
  auto s = base_settings();
  s["inet_interfaces"] = "192.0.2.40, 192.0.2.41";  // two: the kernel picks the source
  Report r = run(s);
  EXPECT_THAT(r.sending, IsEmpty());
  const Finding* f = find(r, "banner_dns", "192.0.2.40");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kInfo);
  EXPECT_THAT(f->message, HasSubstr("mail.example.org resolves to 192.0.2.30, not to receiving "
                                    "address 192.0.2.40"));
  EXPECT_THAT(f->meaning, HasSubstr("RFC 5321 section 4.2"));
  EXPECT_THAT(find(r, "helo_ptr", "sending address")->fix, HasSubstr("--address"));
  EXPECT_EQ(r.exit_code(), 0);
}

TEST_F(SelfcheckEval, BannerNameThatDoesNotExistIsAWarning) {
  auto s = base_settings();
  s["myhostname"] = s["smtp_helo_name"] = "nx.example.org";
  s["smtpd_banner"] = "nx.example.org ESMTP";
  Report r = run(s);
  const Finding* f = find(r, "banner_dns", "192.0.2.30");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kWarning);
  EXPECT_THAT(f->message, HasSubstr("banner name nx.example.org does not exist in the DNS"));
}

TEST_F(SelfcheckEval, AddressOptionOverridesLocalAddresses) {
  dns.ptrs["198.51.100.7"] = {"mail.example.org"};
  dns.hosts["mail.example.org"] = {"192.0.2.30", "198.51.100.7"};
  auto s = base_settings();
  s["inet_interfaces"] = "all";
  s["smtp_bind_address"] = "10.0.0.5";
  Report r = run(s, {"198.51.100.7"});
  ASSERT_EQ(r.sending.size(), 1u);
  EXPECT_EQ(r.sending[0].source, "--address");
  EXPECT_EQ(find(r, "helo_ptr", "198.51.100.7")->severity, Severity::kOk);
  EXPECT_EQ(find(r, "banner_dns", "198.51.100.7")->severity, Severity::kOk);
  EXPECT_EQ(find(r, "helo_ptr", "10.0.0.5"), nullptr);
}

TEST_F(SelfcheckEval, NamesThatDisagreeAndAMaskedBanner) {
  auto s = base_settings();
  s["smtp_helo_name"] = "out.example.org";
  Report r = run(s);
  const Finding* f = find(r, "names", "smtp_helo_name");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kWarning);
  EXPECT_EQ(f->fix, "postconf -e 'smtp_helo_name = $myhostname'");

  s = base_settings();
  s["smtpd_banner"] = "****************************";
  r = run(s);
  f = find(r, "names", "smtpd_banner");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kProblem);
  EXPECT_THAT(f->meaning, HasSubstr("inspecting firewall"));
  EXPECT_EQ(f->fix, "postconf -e 'smtpd_banner = $myhostname ESMTP'");
  EXPECT_EQ(find(r, "banner_dns", "192.0.2.30"), nullptr);  // no name to check

  s = base_settings();
  s["smtp_helo_name"] = "localhost";
  r = run(s);
  EXPECT_EQ(find(r, "names", "smtp_helo_name")->severity, Severity::kProblem);
  EXPECT_EQ(r.exit_code(), 2);
}

TEST_F(SelfcheckEval, DnsFailureIsAWarningNotAVerdict) {
  dns.failing = {"192.0.2.30", "mail.example.org"};
  Report r = run(base_settings());
  const Finding* f = find(r, "helo_ptr", "192.0.2.30");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kWarning);
  EXPECT_THAT(f->message, HasSubstr("could not be looked up (SERVFAIL)"));
  EXPECT_EQ(r.exit_code(), 1);

  // A missing PTR is known to be wrong even when the HELO name's lookup fails.
  dns.failing = {"mail.example.org"};
  auto s = base_settings();
  s["smtp_bind_address"] = "192.0.2.32";
  r = run(s);
  f = find(r, "helo_ptr", "192.0.2.32");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kProblem);
  EXPECT_EQ(f->message,
            "192.0.2.32 has no PTR record, not the HELO name mail.example.org (sending, "
            "smtp_bind_address)");
  EXPECT_THAT(f->fix, Not(HasSubstr("add A")));  // unknown whether it is needed
  // The right PTR with the forward lookup failing: nothing is known.
  r = run(base_settings());
  EXPECT_EQ(find(r, "helo_ptr", "192.0.2.30")->severity, Severity::kWarning);
  EXPECT_EQ(find(r, "banner_dns", "192.0.2.30")->severity, Severity::kWarning);
}

TEST_F(SelfcheckEval, InterfaceNamesResolveAndLoopbackOnlyIsSaid) {
  dns.hosts["in.example.org"] = {"192.0.2.30"};
  auto s = base_settings();
  s["inet_interfaces"] = "in.example.org";
  Report r = run(s);
  ASSERT_EQ(r.receiving.size(), 1u);
  EXPECT_EQ(r.receiving[0].address.str(), "192.0.2.30");

  s["inet_interfaces"] = "nx.example.org";
  r = run(s);
  EXPECT_EQ(find(r, "addresses", "nx.example.org")->message,
            "inet_interfaces entry nx.example.org does not resolve in the DNS (no A/AAAA record)");
  EXPECT_THAT(r.receiving, IsEmpty());

  s["inet_interfaces"] = "loopback-only";
  r = run(s);
  EXPECT_THAT(r.receiving, IsEmpty());
  EXPECT_THAT(find(r, "banner_dns", "receiving address")->message,
              HasSubstr("inet_interfaces = loopback-only: this Postfix receives no mail from "
                        "outside (loopback only)"));
  // Loopback entries are not where the world connects.
  s["inet_interfaces"] = "127.0.0.1, 192.0.2.30";
  r = run(s);
  ASSERT_EQ(r.receiving.size(), 1u);
  EXPECT_EQ(r.receiving[0].address.str(), "192.0.2.30");
  // Postfix binds its client only when inet_interfaces has one IPv4 address.
  EXPECT_THAT(r.sending, IsEmpty());
  s["inet_interfaces"] = "127.0.0.1";
  s["proxy_interfaces"] = "198.51.100.7";
  r = run(s);
  ASSERT_EQ(r.receiving.size(), 1u);
  EXPECT_EQ(r.receiving[0].source, "proxy_interfaces");
  EXPECT_THAT(r.sending, IsEmpty());
}

TEST_F(SelfcheckEval, UnreadableCertificateIsAProblem) {
  auto s = base_settings();
  s["smtpd_tls_security_level"] = "may";
  s["smtpd_tls_cert_file"] = "/nonexistent/cert.pem";
  Report r = run(s);
  const Finding* f = find(r, "certificate", "/nonexistent/cert.pem");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kProblem);
  EXPECT_THAT(f->message, HasSubstr("No such file or directory"));
  s["smtpd_tls_cert_file"] = "";
  r = run(s);
  EXPECT_EQ(find(r, "certificate")->severity, Severity::kProblem);  // may, but no cert
}

// Certificates made here with OpenSSL, with the validity and names a case needs.
class Certificates : public SelfcheckEval {
 protected:
  void SetUp() override {
    SelfcheckEval::SetUp();
    char tmpl[] = "/tmp/esmtp-selfcheck-cert-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ca_key_ = EVP_EC_gen("P-256");
    ASSERT_NE(ca_key_, nullptr);
  }
  void TearDown() override {
    EVP_PKEY_free(ca_key_);
    std::system(("rm -rf " + dir_).c_str());
  }

  // A PEM file (private key first, as in smtpd_tls_chain_files, then the
  // certificate) valid from now+from_s to now+until_s; signed by itself, or
  // by a "CA" with another name.
  std::string make(const std::string& file, const std::string& sans, long from_s, long until_s,
                   bool self_signed = true) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), from_s);
    X509_gmtime_adj(X509_getm_notAfter(x), until_s);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("test cert"), -1, -1, 0);
    X509_NAME* issuer = X509_NAME_new();
    X509_NAME_add_entry_by_txt(
        issuer, "CN", MBSTRING_ASC,
        reinterpret_cast<const unsigned char*>(self_signed ? "test cert" : "Test CA"), -1, -1, 0);
    X509_set_issuer_name(x, issuer);
    X509_NAME_free(issuer);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, sans.c_str());
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, self_signed ? key : ca_key_, EVP_sha256());
    std::string path = dir_ + "/" + file;
    FILE* f = std::fopen(path.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    PEM_write_X509(f, x);
    std::fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
    return path;
  }

  Report check(const std::string& chain_files, const std::string& helo = "mail.example.org") {
    auto s = base_settings();
    s["smtpd_tls_security_level"] = "may";
    s["smtpd_tls_chain_files"] = chain_files;
    s["smtpd_tls_cert_file"] = "/ignored/when/chain/files/are/set.pem";
    s["smtp_helo_name"] = helo;
    return run(s);
  }

  std::string dir_;
  EVP_PKEY* ca_key_ = nullptr;
};

TEST_F(Certificates, CoveringCaSignedCertificateIsOk) {
  auto path = make("good.pem", "DNS:mail.example.org,DNS:www.example.org", -60, 90 * 86400, false);
  Report r = check(path);
  ASSERT_EQ(r.certificates.size(), 1u);
  EXPECT_THAT(r.certificates[0].names, ElementsAre("mail.example.org", "www.example.org"));
  EXPECT_FALSE(r.certificates[0].self_signed);
  const Finding* f = find(r, "certificate", path);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kOk);
  EXPECT_THAT(f->message, HasSubstr("covers the banner name mail.example.org"));
  EXPECT_EQ(find(r, "certificate", "/ignored/when/chain/files/are/set.pem"), nullptr);
  EXPECT_EQ(r.exit_code(), 0);
}

TEST_F(Certificates, WildcardsAsRfc6125Says) {
  auto path = make("wild.pem", "DNS:*.example.org", -60, 90 * 86400, false);
  EXPECT_EQ(find(check(path), "certificate", path)->severity, Severity::kOk);
  auto s = base_settings();
  s["myhostname"] = s["smtp_helo_name"] = "a.mail.example.org";
  s["smtpd_banner"] = "a.mail.example.org ESMTP";
  s["smtpd_tls_cert_file"] = path;
  s["smtpd_tls_security_level"] = "may";
  Report r = run(s);
  bool warned = false;
  for (const auto& f : r.findings)
    if (f.check == "certificate" && f.severity == Severity::kWarning)
      warned = f.message ==
               "the certificate names (*.example.org) do not cover the banner name "
               "a.mail.example.org";
  EXPECT_TRUE(warned) << format_text(r);
}

TEST_F(Certificates, ExpiredNotYetValidAndExpiringSoon) {
  auto expired = make("expired.pem", "DNS:mail.example.org", -90 * 86400, -86400);
  Report r = check(expired);
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_EQ(find(r, "certificate", expired)->severity, Severity::kProblem);
  EXPECT_THAT(find(r, "certificate", expired)->message, HasSubstr("the certificate expired on "));
  EXPECT_LT(r.certificates[0].seconds_left, 0);

  auto future = make("future.pem", "DNS:mail.example.org", 86400, 90 * 86400);
  r = check(future);
  EXPECT_EQ(find(r, "certificate", future)->message, "the certificate is not valid yet");

  auto soon = make("soon.pem", "DNS:mail.example.org", -86400, 5 * 86400 + 3600);
  r = check(soon);
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_THAT(
      find(r, "certificate", soon)->message,
      testing::MatchesRegex("the certificate expires soon: 20[0-9-]+T[0-9:]+Z \\(5 days\\)"));
}

TEST_F(Certificates, SelfSignedHeloNameAndSeveralChainFiles) {
  auto rsa_like = make("one.pem", "DNS:mail.example.org", -60, 90 * 86400);
  auto ec_like = make("two.pem", "DNS:mail.example.org", -60, 90 * 86400, false);
  Report r = check(rsa_like + ", " + ec_like, "out.example.org");
  ASSERT_EQ(r.certificates.size(), 2u);
  EXPECT_TRUE(r.certificates[0].self_signed);
  std::vector<std::string> infos;
  for (const auto& f : r.findings)
    if (f.check == "certificate" && f.severity == Severity::kInfo)
      infos.push_back(f.subject + ": " + f.message);
  EXPECT_THAT(infos, ElementsAre(rsa_like + ": the certificate does not cover the HELO name "
                                            "out.example.org",
                                 rsa_like + ": the certificate is self-signed",
                                 ec_like + ": the certificate does not cover the HELO name "
                                           "out.example.org"));
}

TEST(Certificate, OversizedAndEmptyFiles) {
  char tmpl[] = "/tmp/esmtp-selfcheck-big-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, static_cast<off_t>(kMaxCertFile) + 1), 0);
  close(fd);
  std::string error;
  EXPECT_FALSE(load_certificate(tmpl, &error));
  EXPECT_THAT(error, HasSubstr("larger than 1048576 octets"));
  ASSERT_EQ(truncate(tmpl, 0), 0);
  EXPECT_FALSE(load_certificate(tmpl, &error));
  EXPECT_THAT(error, HasSubstr("no start line"));
  unlink(tmpl);
}

}  // namespace
}  // namespace esmtp::selfcheck
