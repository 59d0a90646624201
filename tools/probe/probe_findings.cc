#include "tools/probe/probe_findings.h"

#include <fmt/format.h>

#include <algorithm>

namespace esmtp::probe {
namespace {

constexpr const char* kAsaBannerFix =
    "An inspecting firewall rewrites the banner (Cisco ASA/FTD `inspect esmtp` with "
    "`mask-banner`). Turn it off: `policy-map type inspect esmtp MAP` / `parameters` / "
    "`no mask-banner`, or better stop inspecting SMTP for the mail server "
    "(`policy-map global_policy` / `class inspection_default` / `no inspect esmtp`) and "
    "enforce the rules in the MTA (esmtp-inspect).";

constexpr const char* kAsaStarttlsFix =
    "Cisco ASA/FTD `inspect esmtp` hides STARTTLS unless TLS is allowed: in "
    "`policy-map type inspect esmtp MAP` / `parameters` add `allow-tls`, or remove "
    "`inspect esmtp` for the mail server and enforce the rules in the MTA (esmtp-inspect).";

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string r;
  for (const auto& s : v) {
    if (!r.empty()) r += sep;
    r += s;
  }
  return r;
}

std::string addresses_text(const DnsAnswer& a) {
  std::vector<std::string> v;
  for (const auto& ip : a.addresses) v.push_back(ip.str());
  return join(v);
}

// Everything about the banner name, the PTR of the address and the name's
// A/AAAA. The severity depends on whether this host sends mail under the
// banner name (RFC 5321 section 4.2: the banner text is informational).
void name_findings(const ProbeResult& r, const AnalyzeOptions& o, std::vector<Finding>& out) {
  if (!r.names || !r.address) return;
  const NameAddressCheck& n = *r.names;
  const std::string addr = r.address->str();
  const Severity matters = o.sends_mail ? Severity::kWarning : Severity::kInfo;
  const std::string when =
      o.sends_mail
          ? "You said this host also sends mail under this name (--sends-mail): receiving "
            "servers compare a sender's HELO name with the PTR of the address it sends from, "
            "and many score or refuse mail when they disagree."
          : "For receiving mail this does not matter: the text after 220 is informational "
            "(RFC 5321 section 4.2) and senders do not check it. It matters only if this host "
            "also sends mail from this address with this name as HELO (Postfix: "
            "smtp_helo_name, default $myhostname); run with --sends-mail if it does.";

  if (n.ptr.status == DnsStatus::kTempError) {
    out.push_back({"dns_temperror", Severity::kWarning,
                   fmt::format("PTR lookup of {} failed ({})", addr, n.ptr.error),
                   "The DNS did not answer, so the reverse DNS could not be checked. Receivers "
                   "that look up the PTR of a sender see the same failure and usually defer.",
                   "Check the DNS servers for the reverse zone; run the probe again."});
  } else if (n.ptr.status == DnsStatus::kNone) {
    out.push_back(
        {"ptr_missing", o.sends_mail ? Severity::kProblem : Severity::kInfo,
         fmt::format("{} has no PTR record", addr),
         o.sends_mail
             ? "Many receivers refuse or heavily score mail from an address without reverse "
               "DNS (Postfix reject_unknown_client_hostname, large mailbox providers)."
             : "A receiving-only server needs no PTR. If this host also sends mail from this "
               "address, many receivers refuse mail from an address without reverse DNS "
               "(run with --sends-mail).",
         "Ask whoever owns the address block (your ISP or hosting provider) for a PTR record "
         "naming the host, with a matching A/AAAA record."});
  } else if (!n.fcrdns()) {
    out.push_back(
        {"ptr_not_confirmed", matters,
         fmt::format("PTR of {} ({}) does not resolve back to it", addr, join(n.ptr.names)),
         "The reverse DNS is not forward-confirmed (FCrDNS): no PTR name has an "
         "A/AAAA record with this address. " +
             std::string(o.sends_mail ? "Receivers treat such senders like ones "
                                        "without reverse DNS."
                                      : "This matters only for mail sent from this "
                                        "address."),
         "Add an A/AAAA record for the PTR name pointing to " + addr +
             ", or change the PTR to a name that has one."});
  } else {
    out.push_back({"ptr_ok", Severity::kOk,
                   fmt::format("PTR of {}: {} (forward-confirmed)", addr, join(n.confirmed_names)),
                   "", ""});
  }

  if (r.banner_name.empty()) return;  // masked or no name: reported elsewhere
  if (n.forward.status == DnsStatus::kTempError) {
    out.push_back({"dns_temperror", Severity::kWarning,
                   fmt::format("A/AAAA lookup of {} failed ({})", n.name, n.forward.error),
                   "The DNS did not answer, so the banner name could not be checked.",
                   "Check the DNS servers for the zone; run the probe again."});
    return;
  }
  if (n.consistent()) {
    out.push_back({"banner_name_ok", Severity::kOk,
                   fmt::format("banner name {} matches the PTR and A/AAAA of {}", n.name, addr),
                   "Banner, PTR and forward DNS agree; outside checks of the banner pass.", ""});
    return;
  }
  if (n.forward.status == DnsStatus::kNone) {
    out.push_back({"banner_name_unresolvable", matters,
                   fmt::format("banner name {} has no A/AAAA record", n.name),
                   when + " A HELO name that does not resolve is refused by receivers with "
                          "reject_unknown_helo_hostname.",
                   "Give the name an A/AAAA record for " + addr +
                       ", or set the banner (Postfix: myhostname / smtpd_banner) to the "
                       "host's real name."});
    return;
  }
  if (!n.forward_matches()) {
    out.push_back({"banner_name_elsewhere", matters,
                   fmt::format("banner name {} resolves to {}, not to {}", n.name,
                               addresses_text(n.forward), addr),
                   when + " (Behind NAT or a load balancer the probed address may legitimately "
                          "differ from the name's address.)",
                   "If this host sends as " + n.name + ", make the name resolve to " + addr +
                       " or use a name that does."});
  }
  if (!n.ptr_matches() && n.ptr.status == DnsStatus::kOk) {
    out.push_back(
        {"banner_ptr_mismatch", matters,
         fmt::format("banner name {} is not the PTR of {} ({})", n.name, addr, join(n.ptr.names)),
         "Outside checks report this as \"Reverse DNS does not match SMTP banner\". " + when,
         o.sends_mail ? "Make them agree: set the HELO name (Postfix smtp_helo_name, and "
                        "myhostname for the banner) to " +
                            (n.fcrdns() ? n.confirmed_names.front() : std::string("the PTR name")) +
                            ", or change the PTR of " + addr + " to " + n.name + "."
                      : "Nothing, unless this host sends mail under this name."});
  }
}

void tls_findings(const ProbeResult& r, const AnalyzeOptions& o, std::vector<Finding>& out) {
  if (!r.tls_attempted) return;
  if (!r.tls) {
    out.push_back({"tls_failed", Severity::kProblem, "TLS handshake failed: " + r.tls_error,
                   "The server offers STARTTLS but the handshake does not complete. Senders "
                   "that try TLS first fall back to plaintext or defer the mail.",
                   "Check the certificate and key (Postfix smtpd_tls_chain_files or "
                   "smtpd_tls_cert_file/smtpd_tls_key_file) and the TLS protocol settings; "
                   "a middlebox that breaks STARTTLS has the same effect."});
    return;
  }
  const TlsInfo& t = *r.tls;
  out.push_back({"tls_ok", Severity::kOk, fmt::format("TLS {} {}", t.protocol, t.cipher), "", ""});
  if (t.protocol == "TLSv1" || t.protocol == "TLSv1.1" || t.protocol == "SSLv3")
    out.push_back({"tls_old_protocol", Severity::kWarning,
                   "TLS protocol " + t.protocol + " is obsolete",
                   "TLS 1.0 and 1.1 are deprecated (RFC 8996); current clients may refuse them.",
                   "Enable TLS 1.2 and 1.3 (Postfix smtpd_tls_protocols = >=TLSv1.2)."});
  if (t.days_left < 0) {
    out.push_back({"cert_expired", Severity::kProblem,
                   fmt::format("certificate expired on {}", t.not_after),
                   "Senders that verify certificates (MTA-STS, DANE, pinned partners) refuse "
                   "to deliver.",
                   "Renew the certificate and reload the MTA."});
  } else if (t.days_left < o.expiry_warning_days) {
    out.push_back({"cert_expires_soon", Severity::kWarning,
                   fmt::format("certificate expires in {} days ({})", t.days_left, t.not_after),
                   "Once expired, senders that verify certificates refuse to deliver.",
                   "Renew the certificate and reload the MTA."});
  }
  if (t.self_signed) {
    out.push_back({"cert_self_signed", Severity::kInfo, "certificate is self-signed",
                   "Opportunistic TLS between MTAs (the default) encrypts with any certificate, "
                   "so mail still flows encrypted; senders that verify (MTA-STS, pinned "
                   "partners) refuse it. DANE-EE (TLSA 3 1 1) works with a self-signed one.",
                   "Use a certificate from a public CA if you publish MTA-STS, or publish a "
                   "TLSA record for this one."});
  }
  if (t.matches_banner_name && !*t.matches_banner_name) {
    out.push_back({"cert_name_mismatch", Severity::kWarning,
                   fmt::format("certificate names ({}) do not cover the banner name {}",
                               join(t.dns_names), r.banner_name),
                   "Senders that verify the name (MTA-STS checks it against the MX name) "
                   "refuse the certificate; opportunistic TLS does not check it.",
                   "Get a certificate that names the host (as the MX record points to it), or "
                   "set the banner name to one the certificate covers."});
  }
}

}  // namespace

const char* to_string(Starttls s) {
  switch (s) {
    case Starttls::kUnknown:
      return "unknown";
    case Starttls::kOffered:
      return "offered";
    case Starttls::kMasked:
      return "masked";
    case Starttls::kAbsent:
      return "absent";
  }
  return "?";
}

std::vector<Finding> analyze(const ProbeResult& r, const AnalyzeOptions& o) {
  std::vector<Finding> out;
  if (!r.address) {
    out.push_back({"resolve_failed", Severity::kProblem,
                   "cannot resolve " + r.host + ": " + r.resolve_error,
                   "The name has no usable A/AAAA record (or the DNS did not answer), so "
                   "nothing could be probed.",
                   "Check the name, or probe an address."});
    return out;
  }
  if (!r.connected) {
    out.push_back({"connect_failed", Severity::kProblem,
                   fmt::format("cannot connect to {}: {}", r.target, r.connect_error),
                   "No SMTP connection could be made: the server is down, the port is "
                   "filtered, or a firewall drops the connection.",
                   "Check that the MTA listens on this address and port and that the path "
                   "allows it."});
    return out;
  }

  // The banner.
  if (!r.banner_received) {
    std::string meaning =
        r.banner_error == "timeout"
            ? "The server accepted the connection but sent no banner in time. Senders give "
              "up after their own timeout (Postfix smtp_helo_timeout, 300 s), but checks and "
              "impatient clients fail. Usual causes: the server's reverse DNS lookup of the "
              "client hangs, the server is overloaded or tarpitting, or an inspecting "
              "firewall holds the connection."
            : "The server did not send a usable SMTP greeting.";
    out.push_back({"banner_missing", Severity::kProblem, "no banner: " + r.banner_error, meaning,
                   "Look at the MTA's log for this connection; check its DNS resolver and load, "
                   "and any SMTP inspection on the path."});
    return out;
  }
  if (r.banner.code != 220) {
    out.push_back({"banner_refused", Severity::kProblem,
                   "the server refuses service: " + printable(r.banner.first_line()),
                   r.banner.code == 554 || r.banner.code == 421
                       ? "A 554 or 421 greeting means the server will not accept mail in this "
                         "session (it may be refusing this client's address, be overloaded, "
                         "or be shutting down)."
                       : "The greeting is not 220, so clients will not send mail.",
                   "Check the MTA's access rules and load for this client."});
  }
  if (r.banner_masked) {
    out.push_back({"banner_masked", Severity::kProblem,
                   "banner masked: \"" + printable(r.banner.first_line(), 80) + "\"",
                   "The greeting has been replaced by asterisks or X's: an inspecting firewall "
                   "sits in front of the server. Every outside check then reports \"Reverse DNS "
                   "does not match SMTP banner\", and the same inspection usually hides "
                   "STARTTLS and drops connections on long header lines." +
                       (r.ehlo_greeting_name.empty() ? std::string()
                                                     : " The EHLO reply still names the server: " +
                                                           r.ehlo_greeting_name + "."),
                   kAsaBannerFix});
  } else if (r.banner_name.empty() && r.banner.code == 220) {
    out.push_back(
        {"banner_no_hostname", Severity::kInfo,
         "banner does not start with a host name: \"" + printable(r.banner.first_line(), 80) + "\"",
         "RFC 5321 section 4.2 expects the server's domain after 220; checks compare "
         "it with the reverse DNS. The text is informational, so mail flows anyway.",
         "Postfix: smtpd_banner = $myhostname ESMTP"});
  }
  if (r.banner_ms > o.slow_banner_ms) {
    out.push_back(
        {"banner_slow", Severity::kWarning,
         fmt::format("slow banner: {:.0f} ms (threshold {:.0f} ms)", r.banner_ms, o.slow_banner_ms),
         "The server took long to greet. Usual causes: it looks up the client's "
         "reverse DNS before greeting and the DNS is slow or unreachable; load; "
         "resource conservation or deliberate tarpitting (Postfix postscreen "
         "greet-pause, sendmail greet_pause); an inspecting firewall holding the "
         "banner.",
         "Check the MTA's resolver (Postfix smtpd_peername_lookup), its load and "
         "greet delays, and any SMTP inspection on the path."});
  } else {
    out.push_back({"banner_time_ok", Severity::kOk,
                   fmt::format("banner after {:.0f} ms", r.banner_ms), "", ""});
  }

  // EHLO and STARTTLS.
  if (!r.ehlo_done) {
    if (!r.ehlo_error.empty())
      out.push_back({"ehlo_failed", Severity::kProblem, "EHLO failed: " + r.ehlo_error,
                     "The server did not answer EHLO with a usable reply.",
                     "Look at the MTA's log for this connection."});
  } else if (r.ehlo.code != 250) {
    out.push_back({"ehlo_refused", Severity::kProblem,
                   "EHLO refused: " + printable(r.ehlo.first_line()),
                   "The server does not accept ESMTP from this client; without EHLO there is "
                   "no STARTTLS and no SIZE.",
                   "Check the MTA's HELO restrictions and whether a middlebox rewrites EHLO."});
  }
  if (!r.masked_extensions.empty()) {
    out.push_back({"ehlo_masked", Severity::kWarning,
                   "EHLO extensions masked: " + join(r.masked_extensions),
                   "An inspecting firewall replaced ESMTP keywords by X's, so clients do not "
                   "see those extensions.",
                   "Turn off SMTP inspection for the mail server (Cisco ASA: `no inspect "
                   "esmtp`)."});
  }
  switch (r.starttls) {
    case Starttls::kMasked:
      out.push_back({"starttls_masked", Severity::kProblem,
                     "STARTTLS masked (the EHLO reply shows it as X's)",
                     "An inspecting firewall hides STARTTLS, so every sender delivers in "
                     "plaintext although the server supports TLS.",
                     kAsaStarttlsFix});
      break;
    case Starttls::kAbsent:
      out.push_back({"starttls_absent", Severity::kWarning, "STARTTLS not offered",
                     "Mail to this server travels unencrypted.",
                     "Enable TLS in the MTA (Postfix: smtpd_tls_security_level = may with "
                     "smtpd_tls_chain_files)."});
      break;
    case Starttls::kOffered:
      if (o.no_tls || !r.tls_attempted)
        out.push_back({"starttls_offered", Severity::kOk, "STARTTLS offered", "", ""});
      break;
    case Starttls::kUnknown:
      break;
  }
  tls_findings(r, o, out);
  if (r.long_line) {
    const LongLineTest& l = *r.long_line;
    if (l.outcome == "reset")
      out.push_back(
          {"long_line_reset", Severity::kProblem,
           fmt::format("connection dropped after a {}-octet header line ({})", l.octets, l.detail),
           "Something on the path kills the connection when a header line is long, instead of "
           "the server answering: an inspecting firewall with a header line limit (Cisco ASA "
           "`match header line length gt 998` with `drop-connection`). The sender gets no "
           "reason and retries; the server logs only a lost connection.",
           "Remove the limit from the firewall (`no match header line length ...` in the "
           "`policy-map type inspect esmtp`, or `no inspect esmtp`) and enforce it in the MTA "
           "with a proper reply (esmtp-inspect rule header_line_length: 550 5.6.0)."});
    else if (l.outcome == "passed")
      out.push_back({"long_line_ok", Severity::kOk,
                     fmt::format("a {}-octet header line does not drop the connection", l.octets),
                     "", ""});
    else
      out.push_back({"long_line_untested", Severity::kInfo,
                     "long header line test not run: " + l.detail,
                     "The server did not accept a test message to the given recipient.",
                     "Give --long-line-test a recipient the server accepts."});
  }
  name_findings(r, o, out);
  return out;
}

Severity worst(const std::vector<Finding>& findings) {
  return worst_severity(findings);
}

int exit_code(const ProbeResult& r, const std::vector<Finding>& findings) {
  if (!r.address || !r.connected) return kExitCannotRun;
  return exit_code_for(worst(findings));
}

}  // namespace esmtp::probe
