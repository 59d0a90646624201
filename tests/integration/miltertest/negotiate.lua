-- Protocol options: SMFIP_HDR_LEADSPC, SMFIP_RCPT_REJ, SMFIP_SKIP and
-- smfi_setsymlist, with an MTA that offers everything and one that does not.
--
-- Config (runner): header_line_length max 100; mime_filename "*.exe" -> tag;
-- the other body rules off, so once the .exe is seen no rule needs more body.
-- Connection 1 lets miltertest offer its defaults (all protocol options and
-- actions): the milter takes LEADSPC, RCPT_REJ, SKIP and the ADDHDRS,
-- QUARANTINE and SETSYMLIST actions; miltertest then sends header values
-- with the leading space. Connection 2 offers neither LEADSPC, SKIP nor
-- RCPT_REJ and only the ADDHDRS action. On both, "Subject: " plus 91 octets
-- (100) passes and plus 92 (101) is rejected: the leading space is not
-- counted twice or missed. The body chunk that completes the rule set is
-- answered SMFIR_SKIP only where SKIP was offered, and the tag header value
-- carries a leading space only where LEADSPC was negotiated.
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

local function exercise(conn, label, qid, body_reply, tag_value)
  -- 100-octet Subject line: accepted; the message goes on with an .exe.
  envelope(conn, qid .. "A", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"Subject", rep("s", 91)}, {"MIME-Version", "1.0"},
                 {"Content-Type", "multipart/mixed; boundary=\"b\""}})
  step(conn, SMFIR_CONTINUE, label .. " eoh", mt.eoh, conn)
  step(conn, body_reply, label .. " body with .exe", mt.bodystring, conn,
       mime_body("b", "setup.exe"))
  step(conn, SMFIR_CONTINUE, label .. " eom", mt.eom, conn)
  if not mt.eom_check(conn, MT_HDRADD, "X-ESMTP-Inspect", tag_value) then
    fail("%s: want X-ESMTP-Inspect %q, got %q", label, tag_value,
         tostring(mt.getheader(conn, "X-ESMTP-Inspect", 0)))
  end
  -- 101-octet Subject line: rejected.
  envelope(conn, qid .. "B", "<a@example.org>")
  step(conn, SMFIR_REPLYCODE, label .. " 101-octet header", mt.header, conn, "Subject",
       rep("s", 92))
end

run(function()
  -- Connection 1: miltertest's default offer (SMFI_CURR_PROT, SMFI_CURR_ACTS).
  local conn = connect()
  sent(mt.negotiate(conn, nil, nil, nil), "negotiate 1")
  check_options(conn, {SMFIP_HDR_LEADSPC = true, SMFIP_RCPT_REJ = true, SMFIP_SKIP = true,
                       SMFIP_NOHDRS = false, SMFIP_NOBODY = false, SMFIP_NOEOH = false,
                       SMFIF_ADDHDRS = true, SMFIF_QUARANTINE = true, SMFIF_SETSYMLIST = true,
                       SMFIF_CHGBODY = false, SMFIF_ADDRCPT = false, SMFIF_DELRCPT = false,
                       SMFIF_CHGHDRS = false}, "full offer")
  step(conn, SMFIR_CONTINUE, "conninfo 1", mt.conninfo, conn, "mx.example.org", "203.0.113.5")
  step(conn, SMFIR_CONTINUE, "helo 1", mt.helo, conn, "mx.example.org")
  exercise(conn, "full offer", "NEGFULL", SMFIR_SKIP, " " .. TAG)
  mt.disconnect(conn)

  -- Connection 2: an MTA without LEADSPC, SKIP, RCPT_REJ; only ADDHDRS.
  -- mt.negotiate's third argument is the protocol options, the fourth the
  -- actions (the man page has them the other way round).
  local all = 0x1FFFFF -- SMFI_CURR_PROT of libmilter 8.14+
  conn = connect()
  sent(mt.negotiate(conn, 6, all - SMFIP_HDR_LEADSPC - SMFIP_SKIP - SMFIP_RCPT_REJ,
                    SMFIF_ADDHDRS), "negotiate 2")
  check_options(conn, {SMFIP_HDR_LEADSPC = false, SMFIP_RCPT_REJ = false, SMFIP_SKIP = false,
                       SMFIF_ADDHDRS = true, SMFIF_QUARANTINE = false,
                       SMFIF_SETSYMLIST = false}, "reduced offer")
  step(conn, SMFIR_CONTINUE, "conninfo 2", mt.conninfo, conn, "mx.example.org", "203.0.113.5")
  step(conn, SMFIR_CONTINUE, "helo 2", mt.helo, conn, "mx.example.org")
  exercise(conn, "reduced offer", "NEGRED", SMFIR_CONTINUE, TAG)
  mt.disconnect(conn)
end)
