-- Scenario 6: connections that end early, politely (SMFIC_QUIT) or not.
--
-- Config (runner): header_line_length max 100, mime_filename_length max 40.
-- ROUNDS times (-D ROUNDS=n) each of: close before negotiating; QUIT right
-- after negotiating; close after CONNECT; close after HELO; close in the
-- header section; QUIT in the middle of a MIME body; close right after a
-- rejected header. Then one whole transaction must still work. The runner
-- runs this twice and compares the milter's threads, descriptors and memory.
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

    conn = open()
    envelope(conn, nil, "<a@example.org>")
    step(conn, SMFIR_REPLYCODE, "long header", mt.header, conn, "Subject", rep("x", 92))
    mt.disconnect(conn, false)
  end

  local conn = open()
  envelope(conn, "EARLYLAST", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"MIME-Version", "1.0"},
                 {"Content-Type", "multipart/mixed; boundary=\"b\""}})
  step(conn, SMFIR_CONTINUE, "eoh", mt.eoh, conn)
  step(conn, SMFIR_REPLYCODE, "body", mt.bodystring, conn, mime_body("b", rep("g", 41)))
  mt.disconnect(conn)
end)
