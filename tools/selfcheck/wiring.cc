// check_wiring(): builds the model (wiring_model.h) and runs the checks over
// it, each in its own file, in the order their findings are reported.
#include "tools/selfcheck/wiring.h"

#include <utility>

#include "tools/selfcheck/wiring_model.h"

namespace esmtp::selfcheck {

std::string shell_quote(std::string_view s) {
  std::string r = "'";
  for (char c : s) {
    if (c == '\'')
      r += "'\\''";
    else
      r += c;
  }
  return r + "'";
}

WiringReport check_wiring(const WiringInput& input, WiringProbe& probe) {
  wiring::WiringContext ctx(input, probe);
  wiring::find_smtpds(ctx);
  if (ctx.smtpds.empty()) {
    ctx.add(Severity::kInfo, "master.cf",
            "master.cf runs no smtpd service: nothing receives mail over SMTP, so there is no "
            "wiring to check");
    return std::move(ctx.report);
  }
  wiring::collect_uses(ctx);
  // Each check adds its findings after those of the one before.
  wiring::check_users(ctx);
  wiring::check_sockets(ctx);
  wiring::check_milter_settings(ctx);
  wiring::check_policy_placement(ctx);
  wiring::check_nothing_configured(ctx);
  return std::move(ctx.report);
}

}  // namespace esmtp::selfcheck
