-- Scenario 3: 50 transactions on one connection, good and bad mixed.
--
-- Config (runner): recipient_count max 3 (tempfail 452), invalid_recipients
-- max 49 (disconnect 421), header_line_length max 100 (reject).
-- Each transaction: two recipients, one the MTA rejected ({rcpt_mailer} =
-- "error", passed on because of SMFIP_RCPT_REJ), a third good one, then a
-- fourth that must get the 452: the recipient count starts again at 0 in
-- every transaction and MTA-rejected recipients do not count. Odd messages
-- have a 159-octet Subject line and then a second over-long header: headers
-- are unanswered (SMFIP_NR_HDR), so the reject of the first one (logged
-- once, the second header is not read) is held through EOH and body and is
-- the answer to EOM. Even messages are accepted at EOM: the previous
-- message's reject does not carry over. The invalid-recipient count is per
-- session: the 50th rejected recipient, in transaction 50, crosses the
-- limit and gets the 421.
dofile(LIB)

run(function()
  local N = 50
  local conn = open()
  if not mt.test_option(conn, SMFIP_RCPT_REJ) then fail("SMFIP_RCPT_REJ not negotiated") end

  for i = 1, N do
    local qid = string.format("MANY%02d", i)
    sent(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "smtp"), "macro rcpt_mailer")
    envelope(conn, qid, "<s" .. i .. "@example.org>", {"<r1@example.net>", "<r2@example.net>"})
    sent(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "error"), "macro rcpt_mailer error")
    if i < N then
      step(conn, SMFIR_CONTINUE, qid .. " rejected rcpt", mt.rcptto, conn,
           "<x" .. i .. "@example.net>")
    else
      step(conn, SMFIR_REPLYCODE, qid .. " rejected rcpt over limit", mt.rcptto, conn,
           "<x" .. i .. "@example.net>")
      break
    end
    sent(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "smtp"), "macro rcpt_mailer smtp")
    step(conn, SMFIR_CONTINUE, qid .. " rcpt 3", mt.rcptto, conn, "<r3@example.net>")
    step(conn, SMFIR_REPLYCODE, qid .. " rcpt 4", mt.rcptto, conn, "<r4@example.net>")
    step(conn, SMFIR_CONTINUE, qid .. " data", mt.data, conn)
    if i % 2 == 1 then
      headers(conn, {{"From", "s" .. i .. "@example.org"}, {"Subject", rep("x", 150)},
                     {"X-Long", rep("z", 150)}})
      step(conn, SMFIR_CONTINUE, qid .. " eoh", mt.eoh, conn)
      step(conn, SMFIR_CONTINUE, qid .. " body", mt.bodystring, conn, "message " .. i .. "\r\n")
      eom_reply(conn, qid .. " eom", HEADER_TOO_LONG)
    else
      headers(conn, {{"From", "s" .. i .. "@example.org"}, {"Subject", rep("y", 91)}})
      step(conn, SMFIR_CONTINUE, qid .. " eoh", mt.eoh, conn)
      step(conn, SMFIR_CONTINUE, qid .. " body", mt.bodystring, conn, "message " .. i .. "\r\n")
      eom_clean(conn, qid .. " eom")
    end
  end
  result("transactions", N)
  mt.disconnect(conn)
end)
