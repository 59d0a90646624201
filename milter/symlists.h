/* symlists.h: the macros esmtp-inspect-milter asks the MTA for, per stage
 * (smfi_setsymlist), whatever the MTA sends by default. One list for
 * milter/main.cc and for bench/null_milter.c --envelope, whose floor must ask
 * for what the milter asks for. Plain C, so that both can include it. */
#ifndef ESMTP_MILTER_SYMLISTS_H
#define ESMTP_MILTER_SYMLISTS_H

#include <libmilter/mfapi.h>

struct EsmtpSymlist {
  int stage; /* SMFIM_* */
  const char* macros;
};

static const struct EsmtpSymlist kEsmtpSymlists[] = {
    {SMFIM_CONNECT, "j {daemon_name} {daemon_addr} {client_addr} {client_name}"},
    {SMFIM_HELO, "{tls_version}"},
    {SMFIM_ENVFROM, "i {auth_authen} {tls_version}"},
    {SMFIM_ENVRCPT, "i {rcpt_mailer}"},
    {SMFIM_DATA, "i"},
    {SMFIM_EOH, "i"},
    {SMFIM_EOM, "i"},
};

#endif /* ESMTP_MILTER_SYMLISTS_H */
