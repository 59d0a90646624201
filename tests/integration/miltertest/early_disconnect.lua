-- Scenario 6: connections that end early, politely (SMFIC_QUIT) or not.
--
-- Config (runner): header_line_length max 100, mime_filename_length max 40.
-- ROUNDS times (-D ROUNDS=n) each of: close before negotiating; QUIT right
-- after negotiating; close after CONNECT; close after HELO; close in the
-- header section; QUIT in the middle of a MIME body; close with a header
-- reject found and held, never given (it would be the answer to EOM, which
-- never comes). Then one whole transaction must still work, its reject given
-- at EOM. The runner runs this four times and compares the milter's
-- threads, descriptors and memory, and counts the log lines.
-- The held-reject connection offers no NR flags (open_answered): libmilter's
-- SMFIR_CONTINUE to the header shows the milter has read it before the
-- close. With NR_HDR nothing is read back, and the close may overtake the
-- header (libmilter stops at the hangup without reading what is queued), so
-- whether it is logged would be a race.
dofile(LIB)

run(function()
  local rounds = tonumber(ROUNDS or "50")
  for i = 1, rounds do
    local conn = connect()
    mt.disconnect(conn, false)

    conn = connect()
    sent(mt.negotiate(conn, nil, nil, nil), "negotiate")
    mt.disconnect(conn, true)

    conn = connect()
    step(conn, SMFIR_CONTINUE, "conninfo", mt.conninfo, conn, "early.example.org", "192.0.2.9")
    mt.disconnect(conn, false)

    conn = open()
    mt.disconnect(conn, false)

    conn = open()
    envelope(conn, "EARLY" .. i, "<a@example.org>")
    headers(conn, {{"From", "a@example.org"}, {"MIME-Version", "1.0"}})
    mt.disconnect(conn, false)

    conn = open()
    envelope(conn, nil, "<a@example.org>")
    headers(conn, {{"Content-Type", "multipart/mixed; boundary=\"b\""}})
    step(conn, SMFIR_CONTINUE, "eoh", mt.eoh, conn)
    step(conn, SMFIR_CONTINUE, "body", mt.bodystring, conn,
         "--b\r\nContent-Disposition: attachment; filename=\"" .. rep("f", 30))
    mt.disconnect(conn, true)

    conn = open_answered()
    envelope(conn, nil, "<a@example.org>")
    step(conn, SMFIR_CONTINUE, "long header", mt.header, conn, "Subject", rep("x", 92))
    step(conn, SMFIR_CONTINUE, "header after the reject", mt.header, conn, "To", "b@example.net")
    mt.disconnect(conn, false)
  end

  local conn = open()
  envelope(conn, "EARLYLAST", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"MIME-Version", "1.0"},
                 {"Content-Type", "multipart/mixed; boundary=\"b\""}})
  step(conn, SMFIR_CONTINUE, "eoh", mt.eoh, conn)
  step(conn, SMFIR_CONTINUE, "body", mt.bodystring, conn, mime_body("b", rep("g", 41)))
  eom_reply(conn, "eom", FILENAME_TOO_LONG)
  mt.disconnect(conn)
end)
