-- Scenario 1a: body chunks with no header and no end-of-headers before them.
--
-- Config (runner): only body_line_length (max 200, reject); no rule reads
-- headers, so the milter negotiates SMFIP_NOEOH (not SMFIP_NOHDRS: it always
-- reads the header to remove a forged X-ESMTP-Inspect) and this MTA, with no
-- header to send, goes from DATA straight to the body. The engine must still scan the body:
-- a 201-octet line split over two chunks is rejected, and a 200-octet line is
-- not. DATA and the body chunks are unanswered (SMFIP_NR_DATA/NR_BODY): the
-- reject found in the second chunk (logged there, where=body:2) is the
-- answer to EOM, with its text. A second transaction on the same connection
-- starts clean: nothing held from the first one.
dofile(LIB)

run(function()
  local conn = open()
  if mt.test_option(conn, SMFIP_NOHDRS) then fail("milter negotiated SMFIP_NOHDRS") end
  if not mt.test_option(conn, SMFIP_NOEOH) then fail("milter did not negotiate SMFIP_NOEOH") end

  -- Message 1: a 200-octet line (at the limit) then one of 201 octets whose
  -- CRLF comes in the next chunk.
  envelope(conn, "BODYNOEOH1", "<a@example.org>")
  step(conn, SMFIR_CONTINUE, "data", mt.data, conn)
  step(conn, SMFIR_CONTINUE, "body 200", mt.bodystring, conn, rep("a", 200) .. "\r\n")
  step(conn, SMFIR_CONTINUE, "body 201 part 1", mt.bodystring, conn, rep("b", 150))
  step(conn, SMFIR_CONTINUE, "body 201 part 2", mt.bodystring, conn, rep("b", 51) .. "\r\n")
  step(conn, SMFIR_CONTINUE, "body after the long line", mt.bodystring, conn, "tail\r\n")
  eom_reply(conn, "eom 1", BODY_LINE_TOO_LONG)

  -- Message 2: clean, accepted (libmilter is back at HELO after the reject).
  envelope(conn, "BODYNOEOH2", "<a@example.org>")
  step(conn, SMFIR_CONTINUE, "data 2", mt.data, conn)
  step(conn, SMFIR_CONTINUE, "body 2", mt.bodystring, conn, rep("c", 200) .. "\r\nbye\r\n")
  eom_clean(conn, "eom 2")
  mt.disconnect(conn)
end)
