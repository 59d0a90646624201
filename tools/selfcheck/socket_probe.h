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
// Errors: returned in ProbeResult (stage and errno), never thrown.
//
// Thread-safety: one probe per thread; talk() forks.
#pragma once

#include <chrono>
#include <cstddef>

#include "tools/selfcheck/wiring.h"

namespace esmtp::selfcheck {

inline constexpr std::size_t kMaxProbeReply = 4096;

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
