-- Scenario 4: a client that never sends HELO/EHLO.
--
-- Config (runner): sender_address_length max 40, header_line_length max 100.
-- miltertest sends a HELO of its own before MAIL unless the connection is
-- already past that stage. mt.abort sets its state to "after HELO" and
-- writes SMFIC_ABORT, which libmilter ignores outside a transaction (no
-- callback, no reply): the next MAIL then follows CONNECT directly, as from
-- Postfix with smtpd_helo_required = no. MAIL, RCPT, headers and the
-- verdicts work; the log lines have client= but no helo= field. A header
-- reject (headers are unanswered, SMFIP_NR_HDR) is the answer to EOM. A
-- HELO later in the session shows up in the lines after it.
dofile(LIB)

run(function()
  local conn = open("nohelo.example.org", "198.51.100.7", false)
  sent(mt.abort(conn), "abort (skip HELO)")

  -- Transaction 1: sender of 41 octets rejected at MAIL.
  sent(mt.macro(conn, SMFIC_MAIL, "i", "NOHELO1"), "macro i")
  step(conn, SMFIR_REPLYCODE, "mail long sender", mt.mailfrom, conn,
       "<" .. rep("s", 29) .. "@example.org>")

  -- Transaction 2: accepted.
  envelope(conn, "NOHELO2", "<" .. rep("s", 28) .. "@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"Subject", "no helo"}})
  step(conn, SMFIR_CONTINUE, "eoh 2", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "body 2", mt.bodystring, conn, "hello\r\n")
  eom_clean(conn, "eom 2")

  -- Transaction 3: header line of 101 octets, rejected at EOM.
  envelope(conn, "NOHELO3", "<a@example.org>")
  step(conn, SMFIR_CONTINUE, "long header", mt.header, conn, "Subject", rep("x", 92))
  step(conn, SMFIR_CONTINUE, "eoh 3", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "body 3", mt.bodystring, conn, "hello\r\n")
  eom_reply(conn, "eom 3", HEADER_TOO_LONG)

  -- The client says HELO after all; transaction 4 is rejected at MAIL again.
  step(conn, SMFIR_CONTINUE, "late helo", mt.helo, conn, "late.example.org")
  sent(mt.macro(conn, SMFIC_MAIL, "i", "NOHELO4"), "macro i")
  step(conn, SMFIR_REPLYCODE, "mail long sender after helo", mt.mailfrom, conn,
       "<" .. rep("s", 29) .. "@example.org>")
  mt.disconnect(conn)
end)
