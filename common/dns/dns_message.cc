// dns_message: the DNS reply walker behind interpret_dns_reply() (see the
// header).
//
// Answers are read with our own bounds-checked walker of the DNS message
// rather than ares_parse_{a,aaaa,ptr}_reply: c-ares 1.18 reports no TTL for
// PTR answers and none for negative answers (the SOA of the authority
// section), both of which the cache needs; and one walker gives PTR, A and
// AAAA the same CNAME-chain rule and the same limits, keeping at most
// kMaxNames/kMaxAddresses without building hostents of whatever size the
// answer claims.
#include "common/dns/dns_message.h"

#include <ares.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

namespace esmtp {

DnsAnswer dns_temp_error(std::string why) {
  DnsAnswer a;
  a.status = DnsStatus::kTempError;
  a.error = std::move(why);
  return a;
}

namespace {

constexpr std::uint16_t kTypeCname = 5;
constexpr std::uint16_t kTypeSoa = 6;
// CNAMEs followed from the name asked before the answer is given up on.
constexpr int kMaxCnameHops = 8;

DnsAnswer temp_error(std::string why) {
  return dns_temp_error(std::move(why));
}

// ---------------------------------------------------------------------------
// The DNS message walker. Every read is bounds-checked; a failed read means
// the message is malformed and the whole answer is discarded.

class Wire {
 public:
  explicit Wire(std::span<const std::uint8_t> msg, std::size_t pos = 0)
      : msg_(msg), pos_(std::min(pos, msg.size())) {}

  std::size_t pos() const { return pos_; }

  bool skip(std::size_t n) {
    if (n > msg_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (msg_.size() - pos_ < 2) return false;
    v = static_cast<std::uint16_t>(msg_[pos_] << 8 | msg_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (msg_.size() - pos_ < 4) return false;
    v = std::uint32_t{msg_[pos_]} << 24 | std::uint32_t{msg_[pos_ + 1]} << 16 |
        std::uint32_t{msg_[pos_ + 2]} << 8 | std::uint32_t{msg_[pos_ + 3]};
    pos_ += 4;
    return true;
  }

  // A possibly compressed name, in lower case without the trailing dot ("" is
  // the root). Bytes other than letters, digits, '-' and '_' come out as \DDD,
  // so two different names never read the same and the result is a host name
  // exactly when it has no backslash. `out` may be null to skip the name.
  //
  // A compression pointer must point before the label sequence that holds it
  // (RFC 1035: "a prior occurrence"): every jump goes strictly backwards, so
  // pointer loops cannot exist, and the 255-octet limit bounds the rest.
  bool name(std::string* out) {
    if (out) out->clear();
    std::size_t p = pos_;
    std::size_t segment = pos_;  // where the label sequence being read starts
    std::size_t resume = 0;      // after the first pointer
    bool jumped = false;
    std::size_t octets = 0;
    for (;;) {
      if (p >= msg_.size()) return false;
      const std::uint8_t len = msg_[p];
      if ((len & 0xC0) == 0xC0) {
        if (msg_.size() - p < 2) return false;
        const std::size_t target = static_cast<std::size_t>(len & 0x3F) << 8 | msg_[p + 1];
        if (target >= segment) return false;
        if (!jumped) resume = p + 2;
        jumped = true;
        p = segment = target;
        continue;
      }
      if (len & 0xC0) return false;  // extended (RFC 6891) and reserved label types
      octets += 1 + std::size_t{len};
      if (octets > 255) return false;
      if (len == 0) {
        pos_ = jumped ? resume : p + 1;
        return true;
      }
      if (msg_.size() - p - 1 < len) return false;
      if (out) {
        if (!out->empty()) out->push_back('.');
        append_label(msg_.subspan(p + 1, len), *out);
      }
      p += 1 + std::size_t{len};
    }
  }

 private:
  static void append_label(std::span<const std::uint8_t> label, std::string& out) {
    for (const std::uint8_t c : label) {
      if (c >= 'A' && c <= 'Z') {
        out.push_back(static_cast<char>(c - 'A' + 'a'));
      } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
        out.push_back(static_cast<char>(c));
      } else {
        const char esc[] = {'\\', static_cast<char>('0' + c / 100),
                            static_cast<char>('0' + c / 10 % 10), static_cast<char>('0' + c % 10)};
        out.append(esc, sizeof esc);
      }
    }
  }

  std::span<const std::uint8_t> msg_;
  std::size_t pos_;
};

// RFC 2181 section 8: a TTL with the top bit set is read as zero.
std::uint32_t wire_ttl(std::uint32_t ttl) {
  return ttl > 0x7FFFFFFFu ? 0 : ttl;
}

struct Record {
  std::string owner;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::size_t rdata = 0;  // offset in the message
  std::uint16_t rdlength = 0;
};

struct Message {
  std::vector<Record> answers;                // class IN, CNAME or the type asked
  std::optional<std::uint32_t> negative_ttl;  // from the SOA in the authority section
};

// The name that is the whole RDATA of a PTR or CNAME record.
bool rdata_name(std::span<const std::uint8_t> msg, const Record& r, std::string* out) {
  const std::size_t end = r.rdata + r.rdlength;  // checked against the message when read
  Wire w(msg.first(end), r.rdata);
  return w.name(out) && w.pos() == end;
}

enum class Parse : std::uint8_t { kOk, kMalformed, kOtherQuestion };

// Header, question (which must be the one asked), answer and authority
// sections; the additional section is not needed and not read. The counts
// come from the wire: each record takes at least 11 octets, so a count
// beyond the message fails a read.

Parse parse_message(std::span<const std::uint8_t> msg, std::uint16_t qtype,
                    const std::string& qname, Message& out) {
  Wire w(msg);
  std::uint16_t id, flags, qdcount, ancount, nscount, arcount;
  if (!w.u16(id) || !w.u16(flags) || !w.u16(qdcount) || !w.u16(ancount) || !w.u16(nscount) ||
      !w.u16(arcount) || qdcount != 1)
    return Parse::kMalformed;
  std::string question;
  std::uint16_t question_type, question_class;
  if (!w.name(&question) || !w.u16(question_type) || !w.u16(question_class))
    return Parse::kMalformed;
  if (question != qname || question_type != qtype || question_class != kDnsClassIn)
    return Parse::kOtherQuestion;
  const std::size_t records = std::size_t{ancount} + nscount;
  for (std::size_t i = 0; i < records; ++i) {
    const bool answer = i < ancount;
    Record r;
    std::uint16_t rclass;
    if (!w.name(answer ? &r.owner : nullptr) || !w.u16(r.type) || !w.u16(rclass) || !w.u32(r.ttl) ||
        !w.u16(r.rdlength))
      return Parse::kMalformed;
    r.rdata = w.pos();
    if (!w.skip(r.rdlength)) return Parse::kMalformed;
    r.ttl = wire_ttl(r.ttl);
    if (rclass != kDnsClassIn) continue;
    if (answer) {
      if (r.type == kTypeCname || r.type == qtype) out.answers.push_back(std::move(r));
    } else if (r.type == kTypeSoa && !out.negative_ttl) {
      // RFC 2308 section 5: a negative answer is kept for the smaller of the
      // SOA's own TTL and its MINIMUM field (the last of five numbers after
      // two names).
      const std::size_t end = r.rdata + r.rdlength;
      Wire soa(msg.first(end), r.rdata);
      std::uint32_t serial, refresh, retry, expire, minimum;
      if (!soa.name(nullptr) || !soa.name(nullptr) || !soa.u32(serial) || !soa.u32(refresh) ||
          !soa.u32(retry) || !soa.u32(expire) || !soa.u32(minimum) || soa.pos() != end)
        return Parse::kMalformed;
      out.negative_ttl = std::min(r.ttl, wire_ttl(minimum));
    }
  }
  return Parse::kOk;
}

bool is_host_name(std::string_view name) {
  return !name.empty() && name.size() <= kDnsMaxNameLength &&
         name.find('\\') == std::string_view::npos;
}

std::chrono::seconds clamp_ttl(std::uint32_t ttl) {
  return std::chrono::seconds(std::clamp(ttl, kDnsMinTtl, kDnsMaxTtl));
}

// What a parsed answer says about (qname, qtype): follows the CNAME chain
// from the name asked (aliases, RFC 2317 classless reverse delegation) and
// takes the records at its end. The TTL is the smallest along the chain.
DnsAnswer extract(std::span<const std::uint8_t> msg, const Message& m, std::uint16_t qtype,
                  const std::string& qname) {
  std::string current = qname;
  std::uint32_t ttl = kDnsMaxTtl;
  for (int hops = 0;; ++hops) {
    auto it = std::find_if(m.answers.begin(), m.answers.end(), [&](const Record& r) {
      return r.type == kTypeCname && r.owner == current;
    });
    if (it == m.answers.end()) break;
    if (hops == kMaxCnameHops) return temp_error("CNAME chain too long");
    std::string target;
    if (!rdata_name(msg, *it, &target)) return temp_error("malformed answer");
    ttl = std::min(ttl, it->ttl);
    current = std::move(target);
  }

  DnsAnswer a;
  bool found = false;
  for (const Record& r : m.answers) {
    if (r.type != qtype || r.owner != current) continue;
    found = true;
    ttl = std::min(ttl, r.ttl);
    if (qtype == kDnsTypePtr) {
      std::string name;
      if (!rdata_name(msg, r, &name)) return temp_error("malformed answer");
      // Names that are not host names are of no use to the identity checks
      // and must not reach logs or headers.
      if (!is_host_name(name) || a.names.size() >= kMaxNames ||
          std::find(a.names.begin(), a.names.end(), name) != a.names.end())
        continue;
      a.names.push_back(std::move(name));
    } else {
      IpAddress ip;
      ip.v6 = qtype == kDnsTypeAaaa;
      const std::size_t size = ip.v6 ? 16 : 4;
      if (r.rdlength != size) return temp_error("malformed answer");
      std::memcpy(ip.bytes.data(), msg.data() + r.rdata, size);
      if (a.addresses.size() >= kMaxAddresses ||
          std::find(a.addresses.begin(), a.addresses.end(), ip) != a.addresses.end())
        continue;
      a.addresses.push_back(ip);
    }
  }
  if (found && (!a.names.empty() || !a.addresses.empty())) {
    a.status = DnsStatus::kOk;
  } else {
    // NODATA at the end of a chain, or PTR names none of which is a host name.
    a.status = DnsStatus::kNone;
    if (!found) ttl = std::min(ttl, m.negative_ttl.value_or(kDnsDefaultNegativeTtl));
  }
  a.ttl = clamp_ttl(ttl);
  return a;
}

std::string ares_error(int status) {
  switch (status) {
    case ARES_ESERVFAIL:
      return "SERVFAIL";
    case ARES_EREFUSED:
      return "REFUSED";
    case ARES_EFORMERR:
      return "FORMERR";
    case ARES_ENOTIMP:
      return "NOTIMP";
    case ARES_ETIMEOUT:
      return "timeout";
    case ARES_ECONNREFUSED:
      // Also what c-ares 1.18 reports when every try failed some other way
      // than by timing out (a UDP reply over 512 octets without TC, ...).
      return "connection refused";
    case ARES_EBADRESP:
      return "bad response";
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
      return "cancelled";
    default:
      return ares_strerror(status);
  }
}

// A c-ares outcome as the identity checks see it.
DnsAnswer interpret(int status, const unsigned char* abuf, int alen, std::uint16_t qtype,
                    const std::string& qname) {
  if (status != ARES_SUCCESS && status != ARES_ENODATA && status != ARES_ENOTFOUND)
    return temp_error(ares_error(status));
  if (!abuf || alen <= 0) {
    if (status == ARES_SUCCESS) return temp_error("malformed answer");
    DnsAnswer a;
    a.status = DnsStatus::kNone;
    a.ttl = clamp_ttl(kDnsDefaultNegativeTtl);
    return a;
  }
  const std::span<const std::uint8_t> msg(abuf, static_cast<std::size_t>(alen));
  Message m;
  switch (parse_message(msg, qtype, qname, m)) {
    case Parse::kOk:
      break;
    case Parse::kMalformed:
      return temp_error("malformed answer");
    case Parse::kOtherQuestion:
      return temp_error("answer to another question");
  }
  DnsAnswer a = extract(msg, m, qtype, qname);
  // NXDOMAIN or NODATA with records of the type asked contradicts itself.
  if (status != ARES_SUCCESS && a.status == DnsStatus::kOk) return temp_error("malformed answer");
  return a;
}

}  // namespace

DnsAnswer interpret_dns_reply(int status, std::span<const std::uint8_t> reply, std::uint16_t qtype,
                              const std::string& qname) {
  return interpret(status, reply.data(), static_cast<int>(reply.size()), qtype, qname);
}

}  // namespace esmtp
