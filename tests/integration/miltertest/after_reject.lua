-- Scenario 5: the MTA goes on sending after the milter's verdict.
--
-- Config (runner): header_line_length max 100, body_line_length max 200
-- (reject), invalid_recipients max 1 (disconnect 421).
--
-- With miltertest's default offer the milter leaves DATA, headers, EOH and
-- body unanswered (SMFIP_NR_*), so a reject found there is not given at once
-- and the MTA goes on sending the message: the milter must hold the first
-- verdict, read no further header or body (no second log line), and give it
-- as the answer to EOM with its text (parts 1 and 2). After that reject
-- libmilter itself is back at "after HELO" and drops a repeated EOM without
-- a reply or a callback. A clean message then is accepted.
-- A verdict at RCPT keeps libmilter in the transaction (SMFIC_RCPT is
-- "ignore errors"), so after the 421 of invalid_recipients every later
-- command reaches the milter, which must answer each answered one with the
-- same 421 and log nothing more (part 3): RCPT at once, the unanswered DATA
-- (and the message after it) at EOM.
-- Part 4 repeats parts 1 and 3 on a connection that offers no NR flags (an
-- MTA that predates them). The milter cannot tell (libmilter offers it the
-- NR flags whatever the MTA sent) and behaves the same; libmilter answers
-- SMFIR_CONTINUE for it to DATA, each header, EOH and body chunk, so the
-- MTA stays in step and gets the reject, or the 421, at EOM. (Before the
-- milter took the NR flags, these were answered at the header and at DATA,
-- and libmilter then dropped the rest of the message unanswered.)
-- The runner checks the log and that the milter still runs.
dofile(LIB)

run(function()
  local conn = open()

  -- Part 1: header rejected, then more headers, EOH and body; EOM gets it.
  envelope(conn, "AFTER1", "<a@example.org>")
  step(conn, SMFIR_CONTINUE, "long header", mt.header, conn, "Subject", rep("x", 92))
  headers(conn, {{"To", "b@example.net"}, {"X-Long", rep("z", 150)}})
  step(conn, SMFIR_CONTINUE, "eoh after reject", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "body after reject", mt.bodystring, conn, rep("b", 300) .. "\r\n")
  eom_reply(conn, "eom after header reject", HEADER_TOO_LONG)
  ignored("eom after reject", mt.eom, conn)

  -- Part 2: body rejected, then more body; EOM gets it; then a clean message
  -- is accepted.
  envelope(conn, "AFTER2", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}})
  step(conn, SMFIR_CONTINUE, "eoh", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "long body line", mt.bodystring, conn, rep("b", 201) .. "\r\n")
  step(conn, SMFIR_CONTINUE, "body after reject", mt.bodystring, conn, rep("c", 300) .. "\r\n")
  eom_reply(conn, "eom after body reject", BODY_LINE_TOO_LONG)
  envelope(conn, "AFTER3", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"Subject", rep("y", 91)}})
  step(conn, SMFIR_CONTINUE, "eoh 3", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "body 3", mt.bodystring, conn, rep("c", 200) .. "\r\n")
  eom_clean(conn, "eom 3")

  -- Part 3: the second MTA-rejected recipient ends the session with a 421.
  -- (RCPT macros go after MAIL: libmilter drops them when MAIL arrives.)
  envelope(conn, "AFTER4", "<a@example.org>", {})
  sent(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "error"), "macro rcpt_mailer")
  step(conn, SMFIR_CONTINUE, "rejected rcpt 1", mt.rcptto, conn, "<x1@example.net>")
  step(conn, SMFIR_REPLYCODE, "rejected rcpt 2", mt.rcptto, conn, "<x2@example.net>")
  sent(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "smtp"), "macro rcpt_mailer")
  step(conn, SMFIR_REPLYCODE, "good rcpt after 421", mt.rcptto, conn, "<b@example.net>")
  step(conn, SMFIR_REPLYCODE, "rejected rcpt after 421", mt.rcptto, conn, "<x3@example.net>")
  -- DATA and the message: unanswered, nothing read (the long Subject is not
  -- logged); the 421 is the answer to EOM (checked by the runner too, see
  -- test_after_disconnect_data).
  step(conn, SMFIR_CONTINUE, "data after 421", mt.data, conn)
  headers(conn, {{"From", "a@example.org"}, {"Subject", rep("x", 150)}})
  step(conn, SMFIR_CONTINUE, "eoh after 421", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "body after 421", mt.bodystring, conn, rep("b", 300) .. "\r\n")
  eom_reply(conn, "eom after 421", TOO_MANY_INVALID)
  result("eom_after_disconnect", reply_name(mt.getreply(conn)))
  -- libmilter is back at HELO: a new transaction and HELO get the 421 too.
  step(conn, SMFIR_REPLYCODE, "mail after 421", mt.mailfrom, conn, "<a@example.org>")
  step(conn, SMFIR_REPLYCODE, "helo after 421", mt.helo, conn, "again.example.org")
  step(conn, SMFIR_REPLYCODE, "mail after helo after 421", mt.mailfrom, conn, "<a@example.org>")
  mt.disconnect(conn)

  -- Part 4: no NR flags offered: every step is answered on the wire.
  conn = open_answered()
  envelope(conn, "AFTERA1", "<a@example.org>")
  step(conn, SMFIR_CONTINUE, "answered: long header", mt.header, conn, "Subject", rep("x", 92))
  step(conn, SMFIR_CONTINUE, "answered: header after reject", mt.header, conn, "To",
       "b@example.net")
  step(conn, SMFIR_CONTINUE, "answered: eoh after reject", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "answered: body after reject", mt.bodystring, conn, "hello\r\n")
  eom_reply(conn, "answered: eom after header reject", HEADER_TOO_LONG)
  envelope(conn, "AFTERA4", "<a@example.org>", {})
  sent(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "error"), "macro rcpt_mailer")
  step(conn, SMFIR_CONTINUE, "answered: rejected rcpt 1", mt.rcptto, conn, "<x1@example.net>")
  step(conn, SMFIR_REPLYCODE, "answered: rejected rcpt 2", mt.rcptto, conn, "<x2@example.net>")
  sent(mt.data(conn), "answered: data after 421")
  result("answered_data_after_disconnect", reply_name(mt.getreply(conn)))
  headers(conn, {{"From", "a@example.org"}, {"Subject", rep("x", 150)}})
  step(conn, SMFIR_CONTINUE, "answered: eoh after 421", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "answered: body after 421", mt.bodystring, conn, "hello\r\n")
  eom_reply(conn, "answered: eom after 421", TOO_MANY_INVALID)
  result("answered_eom_after_disconnect", reply_name(mt.getreply(conn)))
  step(conn, SMFIR_REPLYCODE, "answered: mail after 421", mt.mailfrom, conn, "<a@example.org>")
  mt.disconnect(conn)

  -- The milter still serves new connections.
  conn = open()
  envelope(conn, "AFTER5", "<a@example.org>")
  eom_clean(conn, "eom 5")
  mt.disconnect(conn)
  result("done", 1)
end)
