-- Scenario 5: the MTA goes on sending after the milter's verdict.
--
-- Config (runner): header_line_length max 100, body_line_length max 200
-- (reject), invalid_recipients max 1 (disconnect 421).
-- After REJECT/TEMPFAIL at any stage but RCPT, libmilter itself returns to
-- the "after HELO" state and drops HEADER/EOH/BODY/EOM commands without a
-- reply or a callback: those cannot reach the milter (parts 1 and 2 check
-- that they get no reply and leave the connection usable). A verdict at RCPT
-- keeps libmilter in the transaction (SMFIC_RCPT is "ignore errors"), so
-- after the 421 of invalid_recipients every later command does reach the
-- milter, which must answer each with the same 421 and log nothing more
-- (part 3). The runner checks the log and that the milter is still running.
dofile(LIB)

run(function()
  local conn = open()

  -- Part 1: header rejected, then another header and the EOH.
  envelope(conn, "AFTER1", "<a@example.org>")
  step(conn, SMFIR_REPLYCODE, "long header", mt.header, conn, "Subject", rep("x", 92))
  ignored("header after reject", mt.header, conn, "To", "b@example.net")
  ignored("eoh after reject", mt.eoh, conn)

  -- Part 2: body rejected, then more body; then a clean message is accepted.
  envelope(conn, "AFTER2", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}})
  step(conn, SMFIR_CONTINUE, "eoh", mt.eoh, conn)
  step(conn, SMFIR_REPLYCODE, "long body line", mt.bodystring, conn, rep("b", 201) .. "\r\n")
  ignored("body after reject", mt.bodystring, conn, "more\r\n")
  envelope(conn, "AFTER3", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"Subject", rep("y", 91)}})
  step(conn, SMFIR_CONTINUE, "eoh 3", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "body 3", mt.bodystring, conn, rep("c", 200) .. "\r\n")
  step(conn, SMFIR_CONTINUE, "eom 3", mt.eom, conn)

  -- Part 3: the second MTA-rejected recipient ends the session with a 421.
  -- (RCPT macros go after MAIL: libmilter drops them when MAIL arrives.)
  envelope(conn, "AFTER4", "<a@example.org>", {})
  sent(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "error"), "macro rcpt_mailer")
  step(conn, SMFIR_CONTINUE, "rejected rcpt 1", mt.rcptto, conn, "<x1@example.net>")
  step(conn, SMFIR_REPLYCODE, "rejected rcpt 2", mt.rcptto, conn, "<x2@example.net>")
  sent(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "smtp"), "macro rcpt_mailer")
  step(conn, SMFIR_REPLYCODE, "good rcpt after 421", mt.rcptto, conn, "<b@example.net>")
  step(conn, SMFIR_REPLYCODE, "rejected rcpt after 421", mt.rcptto, conn, "<x3@example.net>")
  -- DATA: reported, checked by the runner (see test_after_disconnect_data).
  sent(mt.data(conn), "data after 421")
  result("data_after_disconnect", reply_name(mt.getreply(conn)))
  -- The refused DATA puts libmilter back at HELO: a header now would be
  -- dropped unanswered, so the next commands are a new transaction and HELO.
  step(conn, SMFIR_REPLYCODE, "mail after 421", mt.mailfrom, conn, "<a@example.org>")
  step(conn, SMFIR_REPLYCODE, "helo after 421", mt.helo, conn, "again.example.org")
  step(conn, SMFIR_REPLYCODE, "mail after helo after 421", mt.mailfrom, conn, "<a@example.org>")
  mt.disconnect(conn)

  -- The milter still serves new connections.
  conn = open()
  envelope(conn, "AFTER5", "<a@example.org>")
  step(conn, SMFIR_CONTINUE, "eom 5", mt.eom, conn)
  mt.disconnect(conn)
  result("done", 1)
end)
