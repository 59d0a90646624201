// mta_needs: what a front end must ask the MTA for, derived from the rule
// rows (common/rules/rules.h) and the configuration: the milter turns it into
// libmilter protocol flags (SMFIP_NOBODY, SMFIP_NOEOH, SMFIP_RCPT_REJ). A
// rule added to the table changes these answers; no front end lists rules.
//
// Thread-safety: pure functions.
#pragma once

#include "common/config/config.h"
#include "common/engine/front_end.h"

namespace esmtp {

struct MtaNeeds {
  bool headers = false;              // some rule reads header fields or the end of headers
  bool body = false;                 // some rule reads the body
  bool rejected_recipients = false;  // some rule counts the recipients the MTA rejected
};

// Over every profile of `c`, for the rules `front_end` decides.
MtaNeeds mta_needs(const Config& c, FrontEnd front_end);

}  // namespace esmtp
