-- Protocol options: SMFIP_HDR_LEADSPC, SMFIP_RCPT_REJ, the "no reply" flags
-- SMFIP_NR_* and smfi_setsymlist, with MTAs that offer different things.
--
-- Config (runner): header_line_length max 100; mime_filename "*.exe" -> tag;
-- the other body rules off, so once the .exe is seen no rule needs more body.
-- Connection 1 lets miltertest offer its defaults (all protocol options and
-- actions, as Postfix and Sendmail do): the milter takes LEADSPC, RCPT_REJ,
-- NR_DATA, NR_HDR, NR_EOH, NR_BODY (never NR_CONN/HELO/MAIL/RCPT: those
-- verdicts the MTA needs at once) and the ADDHDRS, QUARANTINE and SETSYMLIST
-- actions; miltertest then sends header values with the leading space.
-- Connection 2 offers neither LEADSPC, SKIP nor RCPT_REJ and only the
-- ADDHDRS action. On both, "Subject: " plus 91 octets (100) passes and plus
-- 92 (101) is rejected: the leading space is not counted twice or missed;
-- the reject, found at the header, is the answer to EOM. The tag header
-- value carries a leading space only where LEADSPC was negotiated.
-- Connection 3 offers everything but the NR flags (an MTA that predates
-- them) and reads a reply to every step. The milter cannot see that:
-- libmilter passes xxfi_negotiate all NR_* flags whatever the MTA offered,
-- takes them off the answer to the MTA, and itself answers SMFIR_CONTINUE
-- where the milter gives no reply. So the milter holds the header reject
-- for EOM here too (the header gets that CONTINUE, not the reject), and the
-- body chunk that completes the rule set gets CONTINUE, never SMFIR_SKIP
-- (the milter does not skip when it believes body chunks are unanswered).
-- Answering at the header and skipping are no longer reachable through
-- libmilter; tests/unit/milter_connection_test.cc covers them.
dofile(LIB)

local TAG = "rule=mime_filename; result=fail"

local function check_options(conn, want, label)
  for name, on in pairs(want) do
    local got
    if name:sub(1, 6) == "SMFIP_" then
      got = mt.test_option(conn, _G[name])
    else
      got = mt.test_action(conn, _G[name])
    end
    if got ~= on then fail("%s: %s is %s, want %s", label, name, tostring(got), tostring(on)) end
  end
end

local function exercise(conn, label, qid, tag_value)
  step(conn, SMFIR_CONTINUE, label .. " conninfo", mt.conninfo, conn, "mx.example.org",
       "203.0.113.5")
  step(conn, SMFIR_CONTINUE, label .. " helo", mt.helo, conn, "mx.example.org")
  -- 100-octet Subject line: accepted; the message goes on with an .exe.
  envelope(conn, qid .. "A", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"Subject", rep("s", 91)}, {"MIME-Version", "1.0"},
                 {"Content-Type", "multipart/mixed; boundary=\"b\""}})
  step(conn, SMFIR_CONTINUE, label .. " eoh", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, label .. " body with .exe", mt.bodystring, conn,
       mime_body("b", "setup.exe"))
  step(conn, SMFIR_CONTINUE, label .. " body after .exe", mt.bodystring, conn, "more\r\n")
  step(conn, SMFIR_CONTINUE, label .. " eom", mt.eom, conn)
  if not mt.eom_check(conn, MT_HDRADD, "X-ESMTP-Inspect", tag_value) then
    fail("%s: want X-ESMTP-Inspect %q, got %q", label, tag_value,
         tostring(mt.getheader(conn, "X-ESMTP-Inspect", 0)))
  end
  -- 101-octet Subject line: rejected at EOM.
  envelope(conn, qid .. "B", "<a@example.org>")
  step(conn, SMFIR_CONTINUE, label .. " 101-octet header", mt.header, conn, "Subject",
       rep("s", 92))
  step(conn, SMFIR_CONTINUE, label .. " eoh after 101-octet header", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, label .. " body after 101-octet header", mt.bodystring, conn,
       "hello\r\n")
  eom_reply(conn, label .. " eom after 101-octet header", HEADER_TOO_LONG)
end

run(function()
  -- Connection 1: miltertest's default offer (SMFI_CURR_PROT, SMFI_CURR_ACTS).
  local conn = connect()
  sent(mt.negotiate(conn, nil, nil, nil), "negotiate 1")
  check_options(conn, {SMFIP_HDR_LEADSPC = true, SMFIP_RCPT_REJ = true,
                       SMFIP_NOHDRS = false, SMFIP_NOBODY = false, SMFIP_NOEOH = false,
                       SMFIF_ADDHDRS = true, SMFIF_QUARANTINE = true, SMFIF_SETSYMLIST = true,
                       SMFIF_CHGBODY = false, SMFIF_ADDRCPT = false, SMFIF_DELRCPT = false,
                       SMFIF_CHGHDRS = true}, "full offer")
  check_no_reply(conn, true, "full offer")
  exercise(conn, "full offer", "NEGFULL", " " .. TAG)
  mt.disconnect(conn)

  -- Connection 2: an MTA without LEADSPC, SKIP, RCPT_REJ; only ADDHDRS.
  -- mt.negotiate's third argument is the protocol options, the fourth the
  -- actions (the man page has them the other way round).
  conn = connect()
  sent(mt.negotiate(conn, 6, ALL_PROTOCOL - SMFIP_HDR_LEADSPC - SMFIP_SKIP - SMFIP_RCPT_REJ,
                    SMFIF_ADDHDRS), "negotiate 2")
  check_options(conn, {SMFIP_HDR_LEADSPC = false, SMFIP_RCPT_REJ = false, SMFIP_SKIP = false,
                       SMFIF_ADDHDRS = true, SMFIF_QUARANTINE = false,
                       SMFIF_SETSYMLIST = false}, "reduced offer")
  check_no_reply(conn, true, "reduced offer")
  exercise(conn, "reduced offer", "NEGRED", TAG)
  mt.disconnect(conn)

  -- Connection 3: no NR flag offered: every step gets a reply on the wire.
  conn = connect()
  sent(mt.negotiate(conn, 6, ANSWERED_OFFER, nil), "negotiate 3")
  check_options(conn, {SMFIP_HDR_LEADSPC = true, SMFIP_RCPT_REJ = true,
                       SMFIF_ADDHDRS = true}, "offer without NR")
  check_no_reply(conn, false, "offer without NR")
  exercise(conn, "offer without NR", "NEGOLD", " " .. TAG)
  mt.disconnect(conn)
end)
