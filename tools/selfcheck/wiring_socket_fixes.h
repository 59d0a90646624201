// wiring_socket_fixes: the texts and fixes of the socket findings
// (wiring_sockets.cc). Internal to tools/selfcheck; not installed.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tools/selfcheck/wiring_model.h"

namespace esmtp::selfcheck::wiring {

// Uses that reach the same socket the same way and share one finding.
using UseGroup = std::vector<const Use*>;

// "smtp/inet (chrooted), submission/inet"
std::string services_text(const UseGroup& group);

// The fix lines of each use in the group, once each (services may take the
// list from main.cf or from their own -o).
std::string each_fix(const UseGroup& group, const std::function<std::string(const Use&)>& fix_of);

// The relative name the entry should have, and what else must change.
std::string relative_fix(const WiringContext& ctx, const Use& u, std::vector<std::string>* extra);

// The postconf line that names the socket relative to queue_directory, and
// what else must change.
std::string path_fix(const WiringContext& ctx, const Use& u);

// How to get the service listening again.
std::string start_fix(const WiringContext& ctx, const Use& u);

// Our daemon's configured unix socket for this protocol, if any.
const OurSocket* our_unix(const WiringContext& ctx, Protocol p);

// " esmtp-inspect-milter listens on P (unix:P in FILE)."
std::string elsewhere(const WiringContext& ctx, const OurSocket& o);

// The postconf lines that name our daemon's socket instead, when it is
// inside the queue directory; empty otherwise.
std::string point_at(const UseGroup& group, const OurSocket& o);

// The folder of a path: "/" for "/x" or "x".
std::string parent_of(const std::string& path);

}  // namespace esmtp::selfcheck::wiring
