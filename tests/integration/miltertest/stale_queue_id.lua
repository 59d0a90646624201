-- A queue ID must not outlive its transaction.
--
-- Config (runner): sender_address_length max 40, header_line_length max
-- 100. Transaction 1 has queue ID STALE1 (MAIL macro) and ends with EOM;
-- like Postfix, the "MTA" then sends SMFIC_ABORT, which libmilter drops
-- after EOM (no xxfi_abort call).
-- Transaction 2's MAIL comes without i, as from Postfix before the first
-- recipient is accepted, and is rejected: its log line must say NOQUEUE.
-- Transactions 3 (STALE3, a header rejected: headers are unanswered, so the
-- reject is the answer to EOM, followed by the MTA's SMFIC_ABORT that
-- libmilter drops) and 4 (MAIL without i, rejected) repeat that with a
-- reject instead of the accepted EOM.
dofile(LIB)

local LONG_SENDER = "<" .. rep("s", 29) .. "@example.org>" -- 41 octets

run(function()
  local conn = open()
  envelope(conn, "STALE1", "<a@example.org>")
  eom_clean(conn, "1 eom")
  sent(mt.abort(conn), "abort after eom")
  sent(mt.macro(conn, SMFIC_MAIL, "{mail_addr}", "x@example.org"), "macro without i")
  step(conn, SMFIR_REPLYCODE, "2 mail", mt.mailfrom, conn, LONG_SENDER)

  envelope(conn, "STALE3", "<a@example.org>")
  step(conn, SMFIR_CONTINUE, "3 header", mt.header, conn, "Subject", rep("x", 92))
  step(conn, SMFIR_CONTINUE, "3 eoh", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "3 body", mt.bodystring, conn, "hello\r\n")
  eom_reply(conn, "3 eom", HEADER_TOO_LONG)
  sent(mt.abort(conn), "abort after the rejected eom")
  sent(mt.macro(conn, SMFIC_MAIL, "{mail_addr}", "y@example.org"), "macro without i")
  step(conn, SMFIR_REPLYCODE, "4 mail", mt.mailfrom, conn, LONG_SENDER)
  mt.disconnect(conn)
end)
