-- Scenario 2: SMFIC_ABORT in the middle of a message, then a new transaction
-- on the same connection.
--
-- Config (runner): header_line_length max 100 -> tag, to_fields_count max 1
-- -> quarantine, body_line_length max 200 -> log, mime_filename_length max 40
-- -> reject. Every verdict of message 1 is pending (a tag, a quarantine, a
-- long body line reported at EOM, an attachment header cut in the middle)
-- when it is aborted. Message 2 is clean and its body continues message 1's
-- cut attachment header: it must be accepted with no header added, no
-- quarantine, and nothing logged. Message 4 repeats message 1 to the end, to
-- show the same verdicts do appear when the message completes: the reject
-- found in the body (unanswered, SMFIP_NR_BODY) is the answer to EOM.
-- Message 5 is aborted with that reject already found and held (not yet
-- given: no EOM); message 6, clean, must not get it.
dofile(LIB)

run(function()
  local conn = open()
  local function message1(qid)
    envelope(conn, qid, "<a@example.org>")
    headers(conn, {{"From", "a@example.org"}, {"To", "b@example.net"}, {"To", "c@example.net"},
                   {"Subject", rep("s", 150)}, {"MIME-Version", "1.0"},
                   {"Content-Type", "multipart/mixed; boundary=\"b\""}})
    step(conn, SMFIR_CONTINUE, "eoh", mt.eoh, conn)
    step(conn, SMFIR_CONTINUE, "body part 1", mt.bodystring, conn,
         "--b\r\nContent-Type: text/plain\r\n\r\n" .. rep("l", 300) .. "\r\n" ..
         "--b\r\nContent-Disposition: attachment; filename=\"" .. rep("f", 30))
  end
  local function clean(qid)
    envelope(conn, qid, "<a@example.org>")
    headers(conn, {{"From", "a@example.org"}, {"To", "b@example.net"}, {"Subject", "clean"}})
    step(conn, SMFIR_CONTINUE, "eoh " .. qid, mt.eoh, conn)
  end

  -- Message 1: aborted mid-body.
  message1("ABORT1")
  sent(mt.abort(conn), "abort 1")

  -- Message 2: clean; its body starts with the rest of message 1's filename.
  clean("ABORT2")
  step(conn, SMFIR_CONTINUE, "body 2", mt.bodystring, conn,
       rep("f", 30) .. ".exe\"\r\n\r\nAAAA\r\n--b--\r\n" .. rep("m", 150) .. "\r\n")
  eom_clean(conn, "eom 2")

  -- Message 3: aborted in the header section, right after an over-long
  -- header (a tag reported at end of headers), then message 2 again.
  envelope(conn, "ABORT3", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"Subject", rep("t", 120)}})
  sent(mt.abort(conn), "abort 3")
  envelope(conn, "ABORT3B", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"To", "b@example.net"}})
  step(conn, SMFIR_CONTINUE, "eoh 3b", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "body 3b", mt.bodystring, conn, "hello\r\n")
  eom_clean(conn, "eom 3b")

  -- Message 4: message 1 completed: tag, quarantine and the rejected filename;
  -- the reject wins at EOM (nothing added, no quarantine).
  message1("ABORT4")
  step(conn, SMFIR_CONTINUE, "body 4 filename", mt.bodystring, conn,
       rep("f", 30) .. ".exe\"\r\n\r\nAAAA\r\n--b--\r\n")
  eom_reply(conn, "eom 4", FILENAME_TOO_LONG)

  -- Message 5: the over-long filename is complete in the first chunk (the
  -- reject is found and held), then SMFIC_ABORT instead of EOM.
  envelope(conn, "ABORT5", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"MIME-Version", "1.0"},
                 {"Content-Type", "multipart/mixed; boundary=\"b\""}})
  step(conn, SMFIR_CONTINUE, "eoh 5", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "body 5", mt.bodystring, conn, mime_body("b", rep("h", 60) .. ".exe"))
  sent(mt.abort(conn), "abort 5")

  -- Message 6: clean: accepted, the reject held for message 5 is gone.
  clean("ABORT6")
  step(conn, SMFIR_CONTINUE, "body 6", mt.bodystring, conn, "hello\r\n")
  eom_clean(conn, "eom 6")
  mt.disconnect(conn)
end)
