// corpus-milter: the golden corpus through the milter front end.
//
//   corpus-milter test --config F [--client IP] [--helo NAME] [--from ADDR]
//                      [--rcpt ADDR]... [--mail-param P]... MESSAGE.eml
//
// Takes the options of `esmtp-inspect test` (tools/test_options.h), so
// run_case.sh runs a case with it as with the CLI and compares the output
// with the same NAME.ref. Instead of run_offline() it drives a
// MilterConnection with a fake MTA (tests/support/fake_mta.h), the way
// Postfix does, with the protocol features the milter negotiates with Postfix
// (milter/main.cc: SMFIP_RCPT_REJ, SMFIP_HDR_LEADSPC, the SMFIP_NR_* stages,
// SMFIF_CHGHDRS; no SMFIS_SKIP):
//
//   connect  hostname "[IP]" (Postfix's "unknown"), the address as sockaddr
//   HELO     when --helo is given
//   MAIL     argv "<FROM>" and the --mail-param values
//   RCPT     argv "<RCPT>" per --rcpt; the queue ID macro `i` from the first
//            accepted one on
//   DATA, each header field (name; value as sent after the colon, leading
//   blank kept, folded lines joined by LF), end of headers, the body with
//   CRLF line ends in 65535-octet chunks, end of message.
//
// The message is split into fields and body by MessageReader, as offline.
// Like an MTA it stops at the first answer that ends the transaction; a
// refused RCPT refuses that recipient only.
//
// Output (offline_text(), the CLI's formatter): the verdicts the milter's
// logger wrote, each without its log context (queue ID, client, HELO,
// sender); the X-ESMTP-Inspect fields the MTA was told to add; the final
// action from what the MTA was told: reject (SMFIS_REJECT), tempfail
// (SMFIS_TEMPFAIL), disconnect (SMFIS_TEMPFAIL with a 421 reply), discard,
// quarantine (smfi_quarantine), accept. A reply the MTA was given that no
// logged verdict shows adds a line "mta-reply-not-logged: REPLY" (no .ref has
// one). Exit 0 accepted, 1 not, 2 usage or I/O error.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>

#include "common/log/log_fields.h"
#include "common/log/logger.h"
#include "milter/milter_connection.h"
#include "tests/support/fake_mta.h"
#include "tools/offline/message_reader.h"
#include "tools/offline/offline.h"
#include "tools/test_options.h"

namespace esmtp {
namespace {

constexpr std::string_view kTagHeader = "X-ESMTP-Inspect";
constexpr std::size_t kPostfixChunk = 65535;  // Postfix's MILTER_CHUNK_SIZE
constexpr const char* kQueueId = "4F2A1B3C7D";

// The fields and the body of a message, as the MTA hands them to a milter.
struct MessageParts : MessageListener {
  std::vector<std::pair<std::string, std::string>> fields;  // name, value as sent
  std::string body;                                         // as read

  void on_header(std::string_view name, std::string_view, std::string_view raw,
                 const HeaderMetrics&) override {
    // With SMFIP_HDR_LEADSPC the value is everything after the colon; the
    // MTA joins folded lines with a bare LF.
    std::string value;
    for (char c : raw.substr(raw.find(':') + 1)) {
      if (c == '\n' && !value.empty() && value.back() == '\r') value.pop_back();
      value += c;
    }
    fields.emplace_back(name, std::move(value));
  }
  void on_end_of_headers() override {}
  void on_body(std::string_view chunk) override { body.append(chunk); }
};

// The body as SMTP delivers it: every line ends in CRLF (a bare LF is a line
// end; the client ends the last line before the final dot).
std::string smtp_body(std::string_view body) {
  std::string out;
  out.reserve(body.size() + body.size() / 32 + 2);
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) out += '\r';
    out += body[i];
  }
  if (!out.empty() && !out.ends_with("\r\n")) out += "\r\n";
  return out;
}

struct Outcome {
  std::string final;
  bool ended = false;  // the MTA stops sending this message
};

// What an answer means to the MTA; `reply` is the reply it was given with it.
Outcome answer(MilterStatus s, std::string_view reply) {
  switch (s) {
    case MilterStatus::kReject:
      return {"reject", true};
    case MilterStatus::kTempfail:
      // Postfix and Sendmail close the session after a 421.
      return {reply.starts_with("421") ? "disconnect" : "tempfail", true};
    case MilterStatus::kDiscard:
      return {"discard", true};
    default:
      return {"", false};
  }
}

MilterStatus call(FakeMta& mta, std::string* last_reply, auto&& f) {
  const std::size_t before = mta.replies.size();
  MilterStatus s = f();
  *last_reply = mta.replies.size() > before ? mta.replies.back() : std::string();
  return s;
}

std::string drive(MilterConnection& conn, FakeMta& mta, const Envelope& env,
                  const MessageParts& msg) {
  std::string reply;
  sockaddr_storage ss{};
  sockaddr* addr = nullptr;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, env.client_address.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    addr = reinterpret_cast<sockaddr*>(&ss);
  } else if (inet_pton(AF_INET6, env.client_address.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    addr = reinterpret_cast<sockaddr*>(&ss);
  }
  const std::string hostname =
      !env.client_name.empty() ? env.client_name : "[" + env.client_address + "]";
  if (!env.auth_user.empty()) mta.macros["{auth_authen}"] = env.auth_user;
  if (!env.tls_version.empty()) mta.macros["{tls_version}"] = env.tls_version;

  Outcome o =
      answer(call(mta, &reply, [&] { return conn.connect(mta, hostname.c_str(), addr); }), reply);
  if (o.ended) return o.final;
  if (!env.helo.empty()) {
    // A client whose HELO is refused sends no mail in this test (offline.h).
    o = answer(call(mta, &reply, [&] { return conn.helo(mta, env.helo.c_str()); }), reply);
    if (o.ended) return o.final;
  }
  if (!env.from) return "accept";
  const std::string from = "<" + *env.from + ">";
  std::vector<const char*> argv{from.c_str()};
  for (const auto& p : env.mail_params) argv.push_back(p.c_str());
  o = answer(call(mta, &reply, [&] { return conn.envfrom(mta, argv); }), reply);
  if (o.ended) return o.final;
  std::size_t accepted = 0;
  std::string refused;  // the worst refusal of a recipient
  for (const auto& r : env.rcpts) {
    const std::string rcpt = "<" + r + ">";
    const char* rargv[] = {rcpt.c_str()};
    const MilterStatus s = call(mta, &reply, [&] { return conn.envrcpt(mta, rargv); });
    o = answer(s, reply);
    if (s == MilterStatus::kDiscard || o.final == "disconnect") return o.final;
    if (o.ended) {
      if (refused != "reject") refused = o.final;
      continue;
    }
    if (accepted++ == 0) mta.macros["i"] = kQueueId;
  }
  // Every recipient refused: no DATA.
  if (!env.rcpts.empty() && accepted == 0) return refused;
  o = answer(call(mta, &reply, [&] { return conn.data(mta); }), reply);
  if (o.ended) return o.final;
  for (const auto& [name, value] : msg.fields) {
    o = answer(call(mta, &reply, [&] { return conn.header(mta, name.c_str(), value.c_str()); }),
               reply);
    if (o.ended) return o.final;
  }
  o = answer(call(mta, &reply, [&] { return conn.eoh(mta); }), reply);
  if (o.ended) return o.final;
  const std::string body = smtp_body(msg.body);
  for (std::size_t at = 0; at < body.size(); at += kPostfixChunk) {
    const std::size_t n = std::min(kPostfixChunk, body.size() - at);
    const MilterStatus s = call(mta, &reply, [&] {
      return conn.body(mta, reinterpret_cast<const unsigned char*>(body.data() + at), n);
    });
    if (s == MilterStatus::kSkip) break;
    o = answer(s, reply);
    if (o.ended) return o.final;
  }
  o = answer(call(mta, &reply, [&] { return conn.eom(mta); }), reply);
  if (o.ended) return o.final;
  return mta.quarantines.empty() ? "accept" : "quarantine";
}

// A logged verdict line without its log context: what format_verdict_text()
// writes without one. Empty when the line is not a verdict.
std::string without_context(std::string_view line, std::string* reply) {
  const std::size_t colon = line.find(": ");
  if (colon == std::string_view::npos) return {};
  LogRecord rec;
  if (!parse_log_record_text(line.substr(colon + 2), rec)) return {};
  rec.queue_id.clear();
  for (LogField f : {LogField::kClient, LogField::kHelo, LogField::kFrom})
    rec.present[static_cast<std::size_t>(f)] = false;
  rec.client_addr.clear();
  *reply = rec.has(LogField::kReply) ? rec.get(LogField::kReply) : std::string();
  return log_record_text(rec);
}

int run(TestOptions& t) {
  if (t.json) {
    std::cerr << "corpus-milter: --json is not supported\n";
    return 2;
  }
  std::shared_ptr<const Config> config = test_config(t, std::cerr);
  if (!config) return 2;
  std::string text;
  if (t.message == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(t.message, std::ios::binary);
    if (!in) {
      std::cerr << "corpus-milter: " << t.message << ": cannot read\n";
      return 2;
    }
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  MessageParts parts;
  MessageReader reader(parts);
  reader.feed(text);
  reader.finish();

  auto sink = std::make_unique<CaptureSink>();
  CaptureSink* capture = sink.get();
  auto logger = std::make_shared<Logger>(std::move(sink), LogFormat::kText, LogLevel::kDebug,
                                         "esmtp-inspect-milter");
  MilterFeatures features;
  features.leading_space = true;
  features.rejected_rcpts = true;
  features.no_reply_data = true;
  features.no_reply_headers = true;
  features.no_reply_eoh = true;
  features.no_reply_body = true;
  features.change_headers = true;
  MilterConnection conn(config, logger, features);
  FakeMta mta;
  const std::string final = drive(conn, mta, t.env, parts);
  conn.abort();

  std::vector<std::string> lines, logged_replies;
  bool unexpected = false;
  for (const auto& line : capture->lines()) {
    std::string reply;
    std::string v = without_context(line, &reply);
    if (v.empty()) {
      std::cerr << "corpus-milter: not a verdict line in the log: " << line << "\n";
      unexpected = true;
      continue;
    }
    lines.push_back(std::move(v));
    if (!reply.empty()) logged_replies.push_back(std::move(reply));
  }
  for (const auto& r : mta.replies)
    if (std::find(logged_replies.begin(), logged_replies.end(), r) == logged_replies.end())
      lines.push_back("mta-reply-not-logged: " + r);
  std::vector<std::string> tags;
  const std::string prefix = std::string(kTagHeader) + ":";
  for (const auto& h : mta.headers) {
    if (!h.starts_with(prefix)) continue;
    std::string_view value = std::string_view(h).substr(prefix.size());
    if (value.starts_with(' ')) value.remove_prefix(1);  // SMFIP_HDR_LEADSPC
    tags.emplace_back(value);
  }
  std::cout << offline_text(lines, tags, final);
  if (unexpected) return 2;
  return final == "accept" ? 0 : 1;
}

}  // namespace
}  // namespace esmtp

int main(int argc, char** argv) {
  using namespace esmtp;
  CLI::App app{"corpus-milter: the golden corpus through the milter front end"};
  app.require_subcommand(1);
  TestOptions t;
  add_test_command(app, t);
  CLI11_PARSE(app, argc, argv);
  return run(t);
}
