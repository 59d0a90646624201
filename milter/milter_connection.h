// milter_connection: the milter front end's per-connection logic.
//
// Maps libmilter callbacks to Session events and verdicts back to milter
// replies (esmtp-inspect.yaml(5), ACTIONS), and nothing else: every decision is the engine's.
// The MTA is reached only through MtaContext, so unit tests drive this class
// without libmilter or sockets (the OpenDKIM test-shim approach).
//
// An X-ESMTP-Inspect header field that arrives with a message is removed at
// the end of the message, before ours are added: mailbox filters trust it.
// Postfix shows the milter the fields esmtp-inspect-policyd PREPENDed, first,
// as if the sender had written them; with tag_secret they are named
// X-ESMTP-Inspect-SECRET and are renamed here (same value, same place).
//
// Inputs: callback arguments and MTA macros: i (queue ID), j and
// {daemon_addr}/{daemon_name} (profiles), {client_addr}/{client_name},
// {auth_authen}, {tls_version}, {rcpt_mailer} ("error" marks a recipient the
// MTA rejected, sent because we negotiate SMFIP_RCPT_REJ).
//
// Thread-safety: one object per SMTP connection; libmilter calls a
// connection's callbacks one at a time.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"
#include "common/dns/dns_resolver.h"
#include "common/engine/mta_needs.h"
#include "common/engine/session.h"
#include "common/log/logger.h"

namespace esmtp {

// What a callback tells libmilter. kNoReply: nothing, the stage was
// negotiated as unanswered (SMFIP_NR_*).
enum class MilterStatus { kContinue, kReject, kTempfail, kDiscard, kSkip, kNoReply };

// The MTA side of one connection (libmilter's smfi_* calls).
class MtaContext {
 public:
  virtual ~MtaContext() = default;
  virtual std::optional<std::string> macro(const char* name) = 0;
  virtual bool set_reply(const Reply& reply) = 0;
  virtual bool add_header(std::string_view name, std::string_view value) = 0;
  // Removes the `index`-th (from 1) header field called `name`, counting the
  // fields the MTA showed the milter (smfi_chgheader with a null value).
  virtual bool delete_header(std::string_view name, int index) = 0;
  // Inserts a field at `position` (0: first) among all fields
  // (smfi_insheader).
  virtual bool insert_header(int position, std::string_view name, std::string_view value) = 0;
  virtual bool quarantine(std::string_view reason) = 0;
};

// Protocol features the MTA offered and we took (from xxfi_negotiate).
struct MilterFeatures {
  bool skip = false;            // SMFIS_SKIP may be returned from body
  bool leading_space = false;   // header values carry their leading blank
  bool rejected_rcpts = false;  // recipients the MTA rejected are passed on
  // Stages the MTA sends without waiting for an answer (SMFIP_NR_DATA, _HDR,
  // _EOH, _BODY). Every header, the end of headers and every body chunk would
  // otherwise cost a round trip to the milter and back, which is most of what
  // a milter costs Postfix per message. A verdict reached in such a stage is
  // held and given at the next answered one (end of message at the latest):
  // the SMTP client hears it at the same point either way, after the final
  // dot.
  bool no_reply_data = false;
  bool no_reply_headers = false;
  bool no_reply_eoh = false;
  bool no_reply_body = false;
  bool change_headers = false;  // SMFIF_CHGHDRS: header fields may be removed
};

class MilterConnection {
 public:
  // `resolver` may be null: no identity checks then.
  MilterConnection(std::shared_ptr<const Config> config, std::shared_ptr<Logger> logger,
                   MilterFeatures features, std::shared_ptr<DnsResolver> resolver = nullptr);

  // Counts the session into `metrics` (before connect()).
  void set_metrics(EngineMetrics* metrics) { session_.set_metrics(metrics); }
  // The counter store of harvest and client_rate (before connect()); a call
  // blocks this libmilter thread at most store.timeout, once per outage.
  void set_counters(std::shared_ptr<Counters> counters) {
    session_.set_counters(std::move(counters));
  }

  MilterStatus connect(MtaContext& mta, const char* hostname, const sockaddr* addr);
  MilterStatus helo(MtaContext& mta, const char* name);
  MilterStatus envfrom(MtaContext& mta, std::span<const char* const> argv);
  MilterStatus envrcpt(MtaContext& mta, std::span<const char* const> argv);
  // Postfix assigns the queue ID once the first recipient is accepted, so
  // `i` arrives with the DATA macros at the latest.
  MilterStatus data(MtaContext& mta);
  MilterStatus header(MtaContext& mta, const char* name, const char* value);
  MilterStatus eoh(MtaContext& mta);
  MilterStatus body(MtaContext& mta, const unsigned char* data, std::size_t len);
  MilterStatus eom(MtaContext& mta);
  void abort();

  const Session& session() const { return session_; }
  // Between MAIL and the end of the message (or an abort).
  bool in_transaction() const { return in_transaction_; }

 private:
  MilterStatus reply(MtaContext& mta, const Verdict& v);
  // A verdict of a stage negotiated as unanswered: the first one that is not
  // continue is kept for release().
  MilterStatus hold(const Verdict& v);
  // In an answered stage: the held verdict's reply, if any.
  std::optional<MilterStatus> release(MtaContext& mta, bool unanswered);
  void take_queue_id(MtaContext& mta);
  // Runs the identity checks when the session says they are due; blocks this
  // libmilter thread at most dns.timeout x dns.tries.
  Verdict identity(Event at);

  std::shared_ptr<const Config> config_;
  std::shared_ptr<Logger> logger_;  // keeps the logger alive across reloads
  MilterFeatures features_;
  std::shared_ptr<DnsResolver> resolver_;
  bool in_transaction_ = false;
  std::optional<Verdict> held_;  // see hold()
  // X-ESMTP-Inspect fields that came with the message: removed at the end of
  // message, so that a sender cannot forge our verdicts.
  int incoming_tags_ = 0;
  // X-ESMTP-Inspect-SECRET fields (tag_secret), the policy service's: their
  // values, in order, renamed at the end of message.
  std::vector<std::string> policy_tags_;
  std::string policy_tag_name_;  // "X-ESMTP-Inspect-SECRET", "" without a secret
  Session session_;
};

// Address text of a sockaddr (v4, v6, or "" for unix/unknown).
std::string sockaddr_text(const sockaddr* addr);

// True when some profile reads headers or body (mta_needs()): otherwise the
// milter asks the MTA not to send them (SMFIP_NOEOH / SMFIP_NOBODY).
inline bool config_reads_headers(const Config& c) {
  return mta_needs(c, FrontEnd::kMilter).headers;
}
inline bool config_reads_body(const Config& c) {
  return mta_needs(c, FrontEnd::kMilter).body;
}

}  // namespace esmtp
