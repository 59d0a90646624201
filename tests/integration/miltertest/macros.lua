-- The queue ID macro i: how miltertest gets it to smfi_getsymval.
--
-- Config (runner): sender_address_length max 40, header_line_length max 100,
-- body_length max 1k. The runner checks which queue ID each log line has.
-- Part A reproduces the pitfall: mt.macro(conn, SMFIC_MAIL, ...) before the
-- HELO that mt.mailfrom sends implicitly; libmilter drops MAIL macros when
-- HELO arrives, so the line says NOQUEUE. Parts B-D send i after HELO: with
-- MAIL, as "{i}", with DATA only (Postfix's default: the queue file is
-- opened after the first accepted RCPT), and with end of message only.
-- DATA is unanswered (SMFIP_NR_DATA) but its macros still reach the milter;
-- part C's header reject (headers unanswered too) is the answer to EOM.
dofile(LIB)

local SMFIC_DATA = string.byte("T")
local SMFIC_BODYEOB = string.byte("E")
local LONG_SENDER = "<" .. rep("s", 29) .. "@example.org>" -- 41 octets

run(function()
  -- A: macro sent before the implicit CONNECT and HELO: lost.
  local conn = connect()
  sent(mt.macro(conn, SMFIC_MAIL, "i", "MACLOST"), "macro i")
  step(conn, SMFIR_REPLYCODE, "A mail", mt.mailfrom, conn, LONG_SENDER)
  mt.disconnect(conn)

  -- B: after HELO, by both names.
  conn = open()
  sent(mt.macro(conn, SMFIC_MAIL, "i", "MACMAIL"), "macro i")
  step(conn, SMFIR_REPLYCODE, "B mail", mt.mailfrom, conn, LONG_SENDER)
  sent(mt.macro(conn, SMFIC_MAIL, "{i}", "MACBRACE"), "macro {i}")
  step(conn, SMFIR_REPLYCODE, "B mail {i}", mt.mailfrom, conn, LONG_SENDER)

  -- C: i only with the DATA macros; a header is rejected after DATA, at EOM.
  sent(mt.macro(conn, SMFIC_MAIL, "{mail_addr}", "a@example.org"), "macro mail_addr")
  envelope(conn, nil, "<a@example.org>")
  sent(mt.macro(conn, SMFIC_DATA, "i", "MACDATA"), "macro DATA i")
  step(conn, SMFIR_CONTINUE, "C data", mt.data, conn)
  step(conn, SMFIR_CONTINUE, "C header", mt.header, conn, "Subject", rep("x", 92))
  step(conn, SMFIR_CONTINUE, "C eoh", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "C body", mt.bodystring, conn, "hello\r\n")
  eom_reply(conn, "C eom", HEADER_TOO_LONG)

  -- D: i only with the end-of-message macros; the message is too big.
  sent(mt.macro(conn, SMFIC_MAIL, "{mail_addr}", "a@example.org"), "macro mail_addr")
  envelope(conn, nil, "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}})
  step(conn, SMFIR_CONTINUE, "D eoh", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "D body", mt.bodystring, conn, rep(rep("d", 98) .. "\r\n", 11))
  sent(mt.macro(conn, SMFIC_BODYEOB, "i", "MACEOM"), "macro EOM i")
  eom_reply(conn, "D eom", {"552", "5.3.4", "Message too big"})
  mt.disconnect(conn)
end)
