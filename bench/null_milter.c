/* null_milter: a libmilter milter that receives every stage of every message
 * (connect, HELO, MAIL, RCPT, headers, body, end of message) and does nothing
 * with it. bench/milter_throughput.py builds it on the fly (cc ... -lmilter)
 * for its optional "null" and "null-nr" setups: the cost of the milter
 * protocol itself in Postfix and libmilter, the floor under any milter that
 * inspects content.
 *
 *   null_milter [--no-reply | --envelope] unix:/path/to/socket
 *
 * Without an option it negotiates nothing: the MTA sends its default macros
 * and waits for an answer to every command. With --no-reply it asks for no
 * macros and answers only the end of message (SMFIP_NR_* for every other
 * stage): the least a milter that sees the whole message can cost. With
 * --envelope it answers what esmtp-inspect-milter answers (connect, HELO,
 * MAIL, RCPT, end of message; SMFIP_NR_* for DATA, headers, end of header
 * and body) and asks for the same macros: the least a milter that decides
 * at the envelope stages and sees the whole message can cost.
 */
#include <libmilter/mfapi.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "milter/symlists.h"

enum Mode { kAnswerAll, kNoReply, kEnvelope };
static enum Mode mode = kAnswerAll;

/* NR: an envelope stage (connect, HELO, MAIL, RCPT); NRC: a content stage. */
#define NR(ret) (mode == kNoReply ? SMFIS_NOREPLY : (ret))
#define NRC(ret) (mode != kAnswerAll ? SMFIS_NOREPLY : (ret))

static sfsistat cont_connect(SMFICTX* c, char* h, _SOCK_ADDR* a) {
  (void)c;
  (void)h;
  (void)a;
  return NR(SMFIS_CONTINUE);
}
static sfsistat cont_helo(SMFICTX* c, char* h) {
  (void)c;
  (void)h;
  return NR(SMFIS_CONTINUE);
}
static sfsistat cont_argv(SMFICTX* c, char** v) {
  (void)c;
  (void)v;
  return NR(SMFIS_CONTINUE);
}
static sfsistat cont_header(SMFICTX* c, char* n, char* v) {
  (void)c;
  (void)n;
  (void)v;
  return NRC(SMFIS_CONTINUE);
}
static sfsistat cont_ctx_nr(SMFICTX* c) {
  (void)c;
  return NRC(SMFIS_CONTINUE);
}
static sfsistat cont_ctx(SMFICTX* c) {
  (void)c;
  return SMFIS_CONTINUE;
}
static sfsistat cont_body(SMFICTX* c, unsigned char* b, size_t n) {
  (void)c;
  (void)b;
  (void)n;
  return NRC(SMFIS_CONTINUE);
}

static sfsistat negotiate(SMFICTX* c, unsigned long f0, unsigned long f1, unsigned long f2,
                          unsigned long f3, unsigned long* pf0, unsigned long* pf1,
                          unsigned long* pf2, unsigned long* pf3) {
  (void)f2;
  (void)f3;
  unsigned long want =
      SMFIP_NR_DATA | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY | SMFIP_NOUNKNOWN;
  if (mode == kNoReply) want |= SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT;
  *pf0 = f0 & SMFIF_SETSYMLIST;
  *pf1 = f1 & want;
  *pf2 = *pf3 = 0;
  if ((*pf1 & want) != want) return SMFIS_REJECT; /* an MTA without milter protocol 6 */
  if (*pf0 & SMFIF_SETSYMLIST) {
    /* --envelope: the lists esmtp-inspect-milter asks for; else none. */
    for (size_t i = 0; i < sizeof kEsmtpSymlists / sizeof kEsmtpSymlists[0]; i++)
      smfi_setsymlist(c, kEsmtpSymlists[i].stage,
                      (char*)(mode == kEnvelope ? kEsmtpSymlists[i].macros : ""));
  }
  return SMFIS_CONTINUE;
}

int main(int argc, char** argv) {
  struct smfiDesc desc = {
      .xxfi_name = "null_milter",
      .xxfi_version = SMFI_VERSION,
      .xxfi_flags = 0,
      .xxfi_connect = cont_connect,
      .xxfi_helo = cont_helo,
      .xxfi_envfrom = cont_argv,
      .xxfi_envrcpt = cont_argv,
      .xxfi_header = cont_header,
      .xxfi_eoh = cont_ctx_nr,
      .xxfi_body = cont_body,
      .xxfi_eom = cont_ctx,
      .xxfi_abort = cont_ctx,
      .xxfi_close = cont_ctx,
      .xxfi_data = cont_ctx_nr,
  };
  if (argc == 3 && (strcmp(argv[1], "--no-reply") == 0 || strcmp(argv[1], "--envelope") == 0)) {
    mode = strcmp(argv[1], "--no-reply") == 0 ? kNoReply : kEnvelope;
    desc.xxfi_flags = SMFIF_SETSYMLIST;
    desc.xxfi_negotiate = negotiate;
    argv++;
    argc--;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: %s [--no-reply | --envelope] unix:/path\n", argv[0]);
    return 2;
  }
  umask(0); /* the MTA (user postfix) must reach the socket */
  if (smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(desc) != MI_SUCCESS ||
      smfi_opensocket(1) != MI_SUCCESS) {
    fprintf(stderr, "null_milter: cannot listen on %s\n", argv[1]);
    return 1;
  }
  return smfi_main() == MI_SUCCESS ? 0 : 1;
}
