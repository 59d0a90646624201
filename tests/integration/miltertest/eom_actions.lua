-- Scenario 7: what the milter asks for at end of message.
--
-- Config (runner): to_fields_count max 1 -> tag, header_line_length max 100
-- -> quarantine, body_length max 1k (1024 octets, headers included) -> reject.
-- Message 1: two To fields and a 120-octet Subject: EOM continues with an
-- added X-ESMTP-Inspect header (with the leading space the milter adds since
-- it negotiated SMFIP_HDR_LEADSPC) and a quarantine request. Message 2: a
-- body over body_length: EOM answers with SMFIR_REPLYCODE "552 5.3.4 Message
-- too big" and asks for nothing else. Message 3: both: the reject wins, no
-- header is added. Message 4: clean: nothing is asked for. Headers, EOH and
-- body are unanswered (SMFIP_NR_*, over TCP too): whatever the milter finds
-- before EOM is given at EOM.
dofile(LIB)

local TAG = "rule=to_fields_count; result=fail; actual=2; limit=1"
local QUARANTINE = "esmtp-inspect rule=header_line_length"
local TOO_BIG = {"552", "5.3.4", "Message too big"}

run(function()
  local conn = open()
  if not mt.test_action(conn, SMFIF_ADDHDRS) then fail("SMFIF_ADDHDRS not requested") end
  if not mt.test_action(conn, SMFIF_QUARANTINE) then fail("SMFIF_QUARANTINE not requested") end
  if not mt.test_option(conn, SMFIP_HDR_LEADSPC) then fail("SMFIP_HDR_LEADSPC not negotiated") end

  -- Message 1: tag and quarantine.
  envelope(conn, "EOM1", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"To", "b@example.net"}, {"To", "c@example.net"},
                 {"Subject", rep("q", 120)}})
  step(conn, SMFIR_CONTINUE, "eoh 1", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "body 1", mt.bodystring, conn, "hello\r\n")
  step(conn, SMFIR_CONTINUE, "eom 1", mt.eom, conn)
  if not mt.eom_check(conn, MT_HDRADD, "X-ESMTP-Inspect", " " .. TAG) then
    fail("message 1: no X-ESMTP-Inspect header %q (got %q)", " " .. TAG,
         tostring(mt.getheader(conn, "X-ESMTP-Inspect", 0)))
  end
  if mt.getheader(conn, "X-ESMTP-Inspect", 1) ~= nil then fail("message 1: two headers added") end
  if not mt.eom_check(conn, MT_QUARANTINE, QUARANTINE) then
    fail("message 1: no quarantine %q", QUARANTINE)
  end

  -- Message 2: rejected at EOM.
  envelope(conn, "EOM2", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"To", "b@example.net"}})
  step(conn, SMFIR_CONTINUE, "eoh 2", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "body 2", mt.bodystring, conn, rep(rep("z", 98) .. "\r\n", 6))
  step(conn, SMFIR_CONTINUE, "body 2b", mt.bodystring, conn, rep(rep("z", 98) .. "\r\n", 6))
  eom_reply(conn, "eom 2", TOO_BIG)

  -- Message 3: tag, quarantine and too big: rejected, nothing added.
  envelope(conn, "EOM3", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"To", "b@example.net"}, {"To", "c@example.net"},
                 {"Subject", rep("q", 120)}})
  step(conn, SMFIR_CONTINUE, "eoh 3", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "body 3", mt.bodystring, conn, rep(rep("w", 98) .. "\r\n", 12))
  eom_reply(conn, "eom 3", TOO_BIG)

  -- Message 4: clean.
  envelope(conn, "EOM4", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"To", "b@example.net"}})
  step(conn, SMFIR_CONTINUE, "eoh 4", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "body 4", mt.bodystring, conn, "hello\r\n")
  eom_clean(conn, "eom 4")
  mt.disconnect(conn)
end)
