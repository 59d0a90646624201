-- Scenario 1b: the script goes from headers to the body without mt.eoh.
--
-- Config (runner): mime_filename_length max 40, header rules on, so the
-- milter wants headers and EOH. miltertest then sends the EOH itself before
-- the first body chunk (mt_assert_state); a body chunk straight after a
-- header cannot reach a libmilter milter at all (libmilter drops it, see
-- test_raw_body_after_header_without_eoh in the runner). What this proves:
-- however the header section ends, the MIME scanner gets the top-level
-- Content-Type and the body is scanned: a 41-octet attachment filename is
-- rejected, a 40-octet one is not. Headers, EOH and body are unanswered
-- (SMFIP_NR_*): the reject is the answer to EOM.
dofile(LIB)

run(function()
  local conn = open()

  -- Message 1: filename of 41 octets, no mt.eoh.
  envelope(conn, "IMPLEOH1", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"MIME-Version", "1.0"},
                 {"Content-Type", "multipart/mixed; boundary=\"b1\""}})
  step(conn, SMFIR_CONTINUE, "body 1", mt.bodystring, conn,
       mime_body("b1", rep("f", 37) .. ".exe"))
  eom_reply(conn, "eom 1", FILENAME_TOO_LONG)

  -- Message 2: filename of 40 octets, no mt.eoh: accepted.
  envelope(conn, "IMPLEOH2", "<a@example.org>")
  headers(conn, {{"From", "a@example.org"}, {"MIME-Version", "1.0"},
                 {"Content-Type", "multipart/mixed; boundary=\"b2\""}})
  step(conn, SMFIR_CONTINUE, "body 2", mt.bodystring, conn, mime_body("b2", rep("g", 36) .. ".exe"))
  eom_clean(conn, "eom 2")

  -- Message 3: no header and no EOH from the script at all (miltertest sends
  -- its default From header and the EOH); the body has no MIME structure, so
  -- the long "filename" in its text is not an attachment.
  envelope(conn, "IMPLEOH3", "<a@example.org>")
  step(conn, SMFIR_CONTINUE, "body 3", mt.bodystring, conn,
       "Content-Disposition: attachment; filename=\"" .. rep("h", 60) .. "\"\r\n")
  eom_clean(conn, "eom 3")
  mt.disconnect(conn)
end)
