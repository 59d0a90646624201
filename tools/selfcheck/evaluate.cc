#include "tools/selfcheck/evaluate.h"

#include <algorithm>
#include <future>

#include "common/util/text.h"
#include "tools/name_check.h"

namespace esmtp::selfcheck {
namespace {

constexpr std::int64_t kExpirySoon = 14 * 86400;

std::string lower(std::string_view s) {
  std::string r(s);
  while (!r.empty() && r.back() == '.') r.pop_back();
  std::transform(r.begin(), r.end(), r.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return r;
}

std::string addresses_text(const std::vector<IpAddress>& v) {
  std::vector<std::string> s;
  for (const auto& a : v) s.push_back(a.str());
  return join(s);
}

// The owner name of an address's PTR record, for "add this record" fixes.
std::string ptr_owner(const IpAddress& a) {
  std::string r;
  static const char* hex = "0123456789abcdef";
  if (!a.v6) {
    for (int i = 3; i >= 0; --i) r += std::to_string(a.bytes[static_cast<std::size_t>(i)]) + ".";
    return r + "in-addr.arpa.";
  }
  for (int i = 15; i >= 0; --i) {
    auto b = a.bytes[static_cast<std::size_t>(i)];
    r += hex[b & 0xf];
    r += '.';
    r += hex[b >> 4];
    r += '.';
  }
  return r + "ip6.arpa.";
}

std::string record_type(const IpAddress& a) {
  return a.v6 ? "AAAA" : "A";
}

std::string forward_text(const NameAddressCheck& c) {
  switch (c.forward.status) {
    case DnsStatus::kOk:
      return c.name + " resolves to " + addresses_text(c.forward.addresses);
    case DnsStatus::kNone:
      return c.name + " has no A/AAAA record";
    case DnsStatus::kTempError:
      break;
  }
  return c.name + " could not be resolved (" + c.forward.error + ")";
}

std::string ptr_text(const NameAddressCheck& c) {
  switch (c.ptr.status) {
    case DnsStatus::kOk:
      return "the PTR of " + c.address.str() + " is " + join(c.ptr.names);
    case DnsStatus::kNone:
      return c.address.str() + " has no PTR record";
    case DnsStatus::kTempError:
      break;
  }
  return "the PTR of " + c.address.str() + " could not be looked up (" + c.ptr.error + ")";
}

std::string add_ptr(const IpAddress& a, const std::string& name) {
  return "add PTR " + a.str() + " -> " + name + " (" + ptr_owner(a) + " PTR " + name +
         ".; set by whoever holds the address block, usually the ISP or hosting provider)";
}

std::string add_forward(const IpAddress& a, const std::string& name) {
  return "add " + record_type(a) + " " + name + " -> " + a.str() + " (" + name + ". " +
         record_type(a) + " " + a.str() + ")";
}

class Checker {
 public:
  Checker(const PostconfValues& settings, DnsResolver& resolver, const EvaluateOptions& options)
      : resolver_(resolver), options_(options) {
    r_.settings = settings;
  }

  Report run() {
    names();
    addresses();
    dns();
    certificates();
    // Grouped by check, in the order an operator fixes them.
    sort_findings(r_.findings);
    return std::move(r_);
  }

 private:
  void add(Severity s, std::string check, std::string subject, std::string message,
           std::string meaning = {}, std::string fix = {}) {
    r_.findings.push_back({s, std::move(check), std::move(subject), std::move(message),
                           std::move(meaning), std::move(fix)});
  }

  std::string setting(std::string_view name) const { return postconf_value(r_.settings, name); }

  void names() {
    r_.myhostname = lower(setting("myhostname"));
    std::string banner = setting("smtpd_banner");
    r_.banner_name = lower(banner_hostname(banner));
    r_.helo_name = lower(setting("smtp_helo_name"));
    bool ok = true;
    if (!is_fqdn(r_.myhostname)) {
      ok = false;
      add(Severity::kProblem, "names", "myhostname",
          "myhostname '" + r_.myhostname + "' is not a fully qualified domain name",
          "Postfix uses myhostname in its banner and HELO by default; receivers reject a "
          "HELO that is not fully qualified (504 5.5.2 need fully-qualified hostname).",
          "postconf -e 'myhostname = mail.example.org' (the name with A and PTR records)");
    }
    if (!is_fqdn(r_.banner_name)) {
      ok = false;
      bool masked =
          r_.banner_name.find_first_not_of("*xX") == std::string::npos && !r_.banner_name.empty();
      add(Severity::kProblem, "names", "smtpd_banner",
          "smtpd_banner '" + banner + "' does not start with a host name",
          std::string("RFC 5321 section 4.2: the 220 greeting starts with the server's "
                      "name; Postfix requires $myhostname at the start of smtpd_banner.") +
              (masked ? " A banner of asterisks or X's is what an inspecting firewall "
                        "shows; hiding the name protects nothing."
                      : ""),
          "postconf -e 'smtpd_banner = $myhostname ESMTP'");
    } else if (r_.banner_name != r_.myhostname) {
      ok = false;
      add(Severity::kWarning, "names", "smtpd_banner",
          "banner name " + r_.banner_name + " differs from myhostname " + r_.myhostname,
          "Outside checks compare the banner name with the DNS of the address; keeping one "
          "name everywhere keeps them consistent.",
          "postconf -e 'smtpd_banner = $myhostname ESMTP'");
    }
    if (!is_fqdn(r_.helo_name)) {
      ok = false;
      add(Severity::kProblem, "names", "smtp_helo_name",
          "HELO name '" + r_.helo_name + "' is not a fully qualified domain name",
          "Receiving servers reject or score mail whose HELO is not a fully qualified name "
          "with A and PTR records (504 5.5.2 need fully-qualified hostname).",
          "postconf -e 'smtp_helo_name = $myhostname'");
    } else if (r_.helo_name != r_.banner_name && is_fqdn(r_.banner_name)) {
      ok = false;
      add(Severity::kWarning, "names", "smtp_helo_name",
          "HELO name " + r_.helo_name + " differs from banner name " + r_.banner_name,
          "Not wrong in itself if each name has matching DNS, but receivers check the HELO "
          "name against the PTR of the sending address, and one name for both is easiest to "
          "keep right.",
          r_.helo_name != r_.myhostname ? "postconf -e 'smtp_helo_name = $myhostname'"
                                        : "postconf -e 'smtpd_banner = $myhostname ESMTP'");
    }
    if (ok)
      add(Severity::kOk, "names", r_.myhostname,
          "banner name, HELO name and myhostname agree: " + r_.myhostname);
  }

  bool ipv4() const { return protocols_.find("ipv4") != std::string::npos || all_protocols_; }
  bool ipv6() const { return protocols_.find("ipv6") != std::string::npos || all_protocols_; }

  // Addresses of a list entry: itself, or the host name's A/AAAA.
  std::vector<IpAddress> resolve(const InterfaceEntry& e, const std::string& param) {
    if (e.address) return {*e.address};
    auto deadline = std::chrono::steady_clock::now() + options_.dns_wait;
    DnsAnswer a = addresses_wait(resolver_, e.text, deadline);
    if (a.status != DnsStatus::kOk) {
      add(Severity::kWarning, "addresses", e.text,
          param + " entry " + e.text + " does not resolve in the DNS (" +
              std::string(a.status == DnsStatus::kNone ? "no A/AAAA record" : a.error) + ")",
          "Postfix resolves " + param +
              " names at start-up (hosts file, then DNS) and refuses to start when one has no "
              "address on this host; the DNS checks below cannot use it.",
          "postconf -e '" + param + " = ADDRESS' with the address itself");
      return {};
    }
    std::vector<IpAddress> out;
    for (const auto& ip : a.addresses)
      if (ip.v6 ? ipv6() : ipv4()) out.push_back(ip);
    return out;
  }

  static void add_use(std::vector<AddressUse>& v, const IpAddress& a, const std::string& src) {
    for (const auto& u : v)
      if (u.address == a) return;
    v.push_back({a, src});
  }

  void addresses() {
    protocols_ = lower(setting("inet_protocols"));
    all_protocols_ = protocols_.empty() || protocols_.find("all") != std::string::npos;

    Interfaces inet = parse_interfaces(setting("inet_interfaces"));
    std::vector<IpAddress> listen;
    for (const auto& e : inet.entries)
      for (const auto& a : resolve(e, "inet_interfaces")) listen.push_back(a);

    // Sending: --address, else smtp_bind_address(6), else what Postfix
    // itself takes from inet_interfaces (smtp_bind_address docs: one
    // non-loopback address of a family is used as the source address).
    for (const auto& a : options_.addresses) add_use(r_.sending, a, "--address");
    if (r_.sending.empty()) {
      for (const char* p : {"smtp_bind_address", "smtp_bind_address6"}) {
        for (const auto& e : parse_interfaces(setting(p)).entries) {
          if (!e.address) {
            add(Severity::kWarning, "addresses", e.text,
                std::string(p) + " '" + e.text + "' is not an IP address",
                "Postfix's SMTP client binds to an address, not a name.",
                std::string("postconf -e '") + p + " = ADDRESS'");
            continue;
          }
          add_use(r_.sending, *e.address, p);
        }
      }
    }
    if (r_.sending.empty() && inet.keyword.empty()) {
      for (bool v6 : {false, true}) {
        std::vector<IpAddress> fam;
        for (const auto& a : listen)
          if (a.v6 == v6) fam.push_back(a);
        if (fam.size() == 1 && !is_loopback(fam[0])) add_use(r_.sending, fam[0], "inet_interfaces");
      }
    }
    if (r_.sending.empty())
      add(Severity::kInfo, "helo_ptr", "sending address",
          "the address mail is sent from is not configured (smtp_bind_address is empty and "
          "inet_interfaces names no single outside address): the kernel picks it, so the "
          "HELO name could not be checked against its PTR",
          "Receivers compare the HELO name with the PTR of the address the mail comes from; "
          "behind NAT that is the public address.",
          "run again with --address PUBLIC_IP (repeatable), or postconf -e "
          "'smtp_bind_address = IP'");

    // Receiving: --address (the public side), else inet_interfaces; plus
    // proxy_interfaces, the addresses a proxy or NAT receives mail on.
    if (!options_.addresses.empty()) {
      for (const auto& a : options_.addresses) add_use(r_.receiving, a, "--address");
    } else {
      // Nobody outside connects to a loopback address: a Postfix listening on
      // 192.0.2.1 and 127.0.0.1 is checked on 192.0.2.1 only.
      for (const auto& a : listen)
        if (!is_loopback(a)) add_use(r_.receiving, a, "inet_interfaces");
    }
    for (const auto& e : parse_interfaces(setting("proxy_interfaces")).entries)
      for (const auto& a : resolve(e, "proxy_interfaces"))
        add_use(r_.receiving, a, "proxy_interfaces");
    if (r_.receiving.empty()) {
      if (inet.keyword == "loopback-only" || !listen.empty())
        add(Severity::kInfo, "banner_dns", "receiving address",
            "inet_interfaces = " + setting("inet_interfaces") +
                ": this Postfix receives no mail from outside (loopback only), so its banner "
                "name is not checked against DNS",
            "",
            "if a proxy or NAT forwards mail to it, name the public address: postconf -e "
            "'proxy_interfaces = PUBLIC_IP' or --address PUBLIC_IP");
      else
        add(Severity::kInfo, "banner_dns", "receiving address",
            "inet_interfaces = " +
                (inet.keyword.empty() ? setting("inet_interfaces") : inet.keyword) +
                ": the public addresses are not known, so the banner name could not be "
                "checked against them",
            "", "run again with --address PUBLIC_IP (repeatable)");
    }
  }

  void dns() {
    // Every pair at once: a slow or dead DNS costs one wait, not one per pair.
    auto check = [this](std::string name, IpAddress a) {
      auto deadline = std::chrono::steady_clock::now() + options_.dns_wait;
      return check_name_address(resolver_, name, a, deadline);
    };
    std::vector<std::future<NameAddressCheck>> send, recv;
    if (is_fqdn(r_.helo_name))
      for (const auto& u : r_.sending)
        send.push_back(std::async(std::launch::async, check, r_.helo_name, u.address));
    if (is_fqdn(r_.banner_name))
      for (const auto& u : r_.receiving)
        recv.push_back(std::async(std::launch::async, check, r_.banner_name, u.address));
    for (std::size_t i = 0; i < send.size(); ++i) helo_ptr(send[i].get(), r_.sending[i]);
    for (std::size_t i = 0; i < recv.size(); ++i) banner_dns(recv[i].get(), r_.receiving[i]);
  }

  bool is_sending(const IpAddress& a) const {
    return std::any_of(r_.sending.begin(), r_.sending.end(),
                       [&](const AddressUse& u) { return u.address == a; });
  }

  void helo_ptr(const NameAddressCheck& c, const AddressUse& use) {
    const std::string subject = c.address.str();
    const std::string why =
        "Receiving servers look up the PTR of the address mail comes from and expect it to "
        "name the HELO host, which must resolve back to the address (forward-confirmed "
        "reverse DNS); otherwise many reject the mail or file it as spam.";
    // A known-wrong PTR is a problem even when the other lookup failed.
    bool ptr_known = c.ptr.status != DnsStatus::kTempError;
    bool forward_known = c.forward.status != DnsStatus::kTempError;
    if (!ptr_known || (c.ptr_matches() && !forward_known)) {
      add(Severity::kWarning, "helo_ptr", subject,
          "could not check HELO name " + c.name + " against " + subject + " (sending, " +
              use.source + "): " + ptr_text(c) + "; " + forward_text(c),
          "A temporary DNS failure: nothing is known either way.",
          "check the DNS servers (--dns) and run again");
      return;
    }
    if (c.consistent()) {
      add(Severity::kOk, "helo_ptr", subject,
          "HELO name " + c.name + " and sending address " + subject +
              " agree: PTR and A/AAAA point at each other");
      return;
    }
    if (!c.ptr_matches()) {
      std::string fix = add_ptr(c.address, c.name);
      if (forward_known && !c.forward_matches()) fix += "\n" + add_forward(c.address, c.name);
      for (const auto& n : c.confirmed_names) {
        fix += "\nor instead use the name the PTR gives: postconf -e 'smtp_helo_name = " + n + "'";
        break;
      }
      add(Severity::kProblem, "helo_ptr", subject,
          ptr_text(c) + ", not the HELO name " + c.name + " (sending, " + use.source + ")", why,
          fix);
      return;
    }
    add(Severity::kProblem, "helo_ptr", subject,
        "the PTR of " + subject + " is the HELO name, but " + forward_text(c) +
            " (not forward-confirmed)",
        why, add_forward(c.address, c.name));
  }

  void banner_dns(const NameAddressCheck& c, const AddressUse& use) {
    const std::string subject = c.address.str();
    const std::string why =
        "The text after 220 is informational (RFC 5321 section 4.2): senders do not check it. "
        "Outside test tools report \"Reverse DNS does not match SMTP banner\" for it; it "
        "matters only where this host also sends mail under this name from this address.";
    // Only the forward lookup decides the severity here; a failed PTR lookup
    // shows in the message.
    if (c.forward.status == DnsStatus::kTempError) {
      add(Severity::kWarning, "banner_dns", subject,
          "could not check banner name " + c.name + " against " + subject + " (receiving, " +
              use.source + "): " + ptr_text(c) + "; " + forward_text(c),
          "A temporary DNS failure: nothing is known either way.",
          "check the DNS servers (--dns) and run again");
      return;
    }
    if (c.consistent()) {
      add(Severity::kOk, "banner_dns", subject,
          "banner name " + c.name + " resolves to receiving address " + subject +
              " and its PTR names it");
      return;
    }
    bool sends = is_sending(c.address) && c.name == r_.helo_name;
    std::string fix;
    if (!c.forward_matches()) fix = add_forward(c.address, c.name);
    if (!c.ptr_matches() && !sends)
      fix += std::string(fix.empty() ? "" : "\n") + "optionally " + add_ptr(c.address, c.name);
    if (c.forward.status == DnsStatus::kNone) {
      add(Severity::kWarning, "banner_dns", subject,
          "banner name " + c.name + " does not exist in the DNS (receiving on " + subject + ", " +
              use.source + ")",
          "Senders and TLS clients that look the server up by its banner name find nothing; "
          "an MX host's name should resolve to the address it answers on.",
          fix);
      return;
    }
    std::string what = !c.forward_matches()
                           ? forward_text(c) + ", not to receiving address " + subject
                           : forward_text(c) + ", but " + ptr_text(c);
    // The sending side of the same pair is reported by helo_ptr already.
    add(Severity::kInfo, "banner_dns", subject, what + " (" + use.source + ")",
        sends ? why + " This address also sends as " + c.name + ": see helo_ptr." : why, fix);
  }

  void certificates() {
    std::vector<std::string> files;
    std::string chain = setting("smtpd_tls_chain_files");
    if (!chain.empty()) {
      files = split_list(chain);  // Postfix ignores the legacy parameters then
    } else {
      for (const char* p : {"smtpd_tls_cert_file", "smtpd_tls_eccert_file"})
        if (!setting(p).empty()) files.push_back(setting(p));
    }
    std::string level = lower(setting("smtpd_tls_security_level"));
    if (files.empty()) {
      bool wants = level == "may" || level == "encrypt";
      add(wants ? Severity::kProblem : Severity::kInfo, "certificate", "smtpd_tls_cert_file",
          wants ? "smtpd_tls_security_level = " + level + " but no server certificate is set"
                : "no server certificate is set: STARTTLS is not offered",
          "Without a certificate senders deliver in plaintext (or, with "
          "smtpd_tls_security_level = may, Postfix logs 'cannot load certificate' and "
          "answers STARTTLS with 454 4.7.0 TLS not available).",
          "postconf -e 'smtpd_tls_cert_file = /etc/ssl/certs/" +
              (r_.banner_name.empty() ? std::string("mail.example.org") : r_.banner_name) +
              ".pem' 'smtpd_tls_key_file = /etc/ssl/private/KEY.pem' "
              "'smtpd_tls_security_level = may'");
      return;
    }
    if (level.empty() || level == "none")
      add(Severity::kInfo, "certificate", "smtpd_tls_security_level",
          "a certificate is set but smtpd_tls_security_level is " +
              (level.empty() ? std::string("empty (none)") : level) + ": STARTTLS is not offered",
          "Senders deliver in plaintext.", "postconf -e 'smtpd_tls_security_level = may'");
    for (const auto& f : files) certificate(f);
  }

  void certificate(const std::string& path) {
    std::string error;
    auto cert = load_certificate(path, &error);
    if (!cert) {
      add(Severity::kProblem, "certificate", path, "cannot read the certificate: " + error,
          "smtpd cannot load it either: STARTTLS fails (454 4.7.0 TLS not available) and "
          "senders fall back to plaintext. (Run selfcheck as root: Postfix reads the file as "
          "root.)",
          "fix the path or permissions, or postconf -e 'smtpd_tls_cert_file = /path/to/cert.pem'");
      return;
    }
    std::string names = join(cert->names);
    if (cert->seconds_left < 0)
      add(Severity::kProblem, "certificate", path, "the certificate expired on " + cert->not_after,
          "Verifying senders (DANE, MTA-STS) refuse to deliver; others log TLS errors.",
          "renew it (e.g. certbot renew) and run postfix reload");
    else if (cert->not_yet_valid)
      add(Severity::kProblem, "certificate", path, "the certificate is not valid yet",
          "Verifying senders refuse it; check the clock and the certificate.",
          "install a certificate valid now and run postfix reload");
    else if (cert->seconds_left < kExpirySoon)
      add(Severity::kWarning, "certificate", path,
          "the certificate expires soon: " + cert->not_after + " (" +
              std::to_string(cert->seconds_left / 86400) + " days)",
          "After that, verifying senders refuse to deliver.",
          "renew it (e.g. certbot renew) and run postfix reload");
    if (is_fqdn(r_.banner_name)) {
      if (cert->covers(r_.banner_name))
        add(Severity::kOk, "certificate", path,
            "the certificate covers the banner name " + r_.banner_name + " (names: " + names +
                "; expires " + cert->not_after + ")");
      else
        add(Severity::kWarning, "certificate", path,
            "the certificate names (" + names + ") do not cover the banner name " + r_.banner_name,
            "Senders that verify the server name (DANE, MTA-STS, smtp_tls_security_level = "
            "verify) refuse the connection; opportunistic TLS still encrypts.",
            "get a certificate with subjectAltName DNS:" + r_.banner_name +
                " (e.g. certbot certonly -d " + r_.banner_name +
                ") and postconf -e 'smtpd_tls_cert_file = /path/to/it.pem'");
    }
    if (is_fqdn(r_.helo_name) && r_.helo_name != r_.banner_name && !cert->covers(r_.helo_name))
      add(Severity::kInfo, "certificate", path,
          "the certificate does not cover the HELO name " + r_.helo_name,
          "Only matters if this host is reached under its HELO name too.",
          "add DNS:" + r_.helo_name + " to the certificate's subjectAltName");
    if (cert->self_signed)
      add(Severity::kInfo, "certificate", path, "the certificate is self-signed",
          "Opportunistic TLS (what most senders do) still encrypts; MTA-STS and verifying "
          "senders reject it (DANE-EE with a TLSA record accepts it).",
          "use a certificate from a public CA (e.g. Let's Encrypt) for " +
              (r_.banner_name.empty() ? std::string("the banner name") : r_.banner_name));
    r_.certificates.push_back(std::move(*cert));
  }

  DnsResolver& resolver_;
  const EvaluateOptions& options_;
  Report r_;
  std::string protocols_;
  bool all_protocols_ = true;
};

}  // namespace

// Grouped by check, in the order an operator fixes them.
void sort_findings(std::vector<Finding>& findings) {
  static const std::vector<std::string> order = {"names",      "addresses",   "helo_ptr",
                                                 "banner_dns", "certificate", "wiring"};
  auto rank = [](const std::string& c) { return std::find(order.begin(), order.end(), c); };
  std::stable_sort(findings.begin(), findings.end(), [&](const Finding& a, const Finding& b) {
    return rank(a.check) < rank(b.check);
  });
}

Severity Report::worst() const {
  return worst_severity(findings);
}

int Report::exit_code() const {
  return exit_code_for(worst());
}

Report evaluate(const PostconfValues& settings, DnsResolver& resolver,
                const EvaluateOptions& options) {
  return Checker(settings, resolver, options).run();
}

}  // namespace esmtp::selfcheck
