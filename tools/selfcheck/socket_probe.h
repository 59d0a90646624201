// socket_probe: the real WiringProbe (tools/selfcheck/wiring.h): stat() of a
// socket path, and a connection made the way Postfix's smtpd makes it.
//
// talk() forks a child that takes smtpd's place: working directory
// queue_directory, chroot(queue_directory) when the service is chrooted,
// setgroups() to the primary group only, setgid(), setuid() (when running as
// root), then a non-blocking connect to the unix socket name as smtpd would
// open it (or to the loopback inet address), the probe request of the
// protocol, and the reply. The child reports through a pipe; everything it
// needs is prepared before fork(), so that it makes system calls only (the
// parent may have other threads).
//
// Limits: connect and answer each wait at most `timeout`; the child is killed
// when it has not reported within twice that plus one second. At most
// kMaxProbeReply octets of a reply are read. Unix socket names longer than
// sun_path fail with ENAMETOOLONG, as they would in Postfix.
//
// The requests: the milter negotiation Postfix opens with (SMFIC_OPTNEG,
// libmilter's 4-octet big-endian length framing), and a policy request that
// esmtp-inspect-policyd answers without side effects; the replies are parsed
// by the functions below, which check_wiring() uses.
//
// Errors: returned in ProbeResult (stage and errno), never thrown.
//
// Thread-safety: one probe per thread; talk() forks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tools/selfcheck/wiring.h"

namespace esmtp::selfcheck {

inline constexpr std::size_t kMaxProbeReply = 4096;

// The milter negotiation Postfix opens with: SMFIC_OPTNEG, protocol version
// 6, every action and protocol flag libmilter knows (so the milter never
// refuses for lack of one), followed by SMFIC_QUIT so that the milter ends
// the connection without logging an error.
std::string milter_probe_request();
struct MilterReply {
  std::uint32_t version = 0, actions = 0, protocol = 0;
};
// The reply to it: 4-octet big-endian length, 'O', version, actions, protocol
// (and macro lists, ignored). nullopt and *error when it is not one.
std::optional<MilterReply> parse_milter_reply(std::string_view bytes, std::string* error);

// A request esmtp-inspect-policyd answers "action=DUNNO" without logging or
// counting anything: protocol_state=CONNECT and no helo_name, sender,
// recipient or server_address, so that no rule runs and no DNS lookup
// starts.
std::string policy_probe_request();
// "action=..." from the reply; nullopt and *error otherwise.
std::optional<std::string> parse_policy_reply(std::string_view bytes, std::string* error);

class SystemProbe : public WiringProbe {
 public:
  explicit SystemProbe(std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : timeout_(timeout) {}

  bool privileged() const override;
  std::optional<RunAs> user(const std::string& name) override;
  FileState stat(const std::string& path) override;
  ProbeResult talk(const ProbeTarget& target) override;

 private:
  std::chrono::milliseconds timeout_;
};

}  // namespace esmtp::selfcheck
