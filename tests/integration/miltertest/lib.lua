-- lib.lua: helpers shared by the esmtp-inspect miltertest scripts.
--
-- Each script starts with dofile(LIB). The runner (test_miltertest.py) sets
-- these globals with miltertest -D:
--   SOCKET  the milter's socket, libmilter syntax (unix:/path, inet:PORT@HOST)
--   LIB     the path of this file
--   ROUNDS  early_disconnect.lua only: how many rounds
--
-- What the scripts rely on in miltertest (Debian 12: 2.11.0~beta2, "v1.6.0"):
-- * Each step fills in the steps before it that the script skipped
--   (mt_assert_state): mt.mailfrom sends CONNECT and HELO, mt.header sends
--   MAIL and RCPT, mt.bodystring sends DATA, a "From" header and EOH, unless
--   the milter negotiated those steps away (SMFIP_NO*).
-- * mt.macro(conn, TYPE, name, value, ...) is written at once and replaces
--   all macros of that TYPE. libmilter drops the macros of every later stage
--   when CONNECT, HELO, MAIL or RCPT arrives: MAIL macros sent before an
--   implicit HELO are lost (call mt.helo, or open(), first), and RCPT macros
--   must follow the MAIL. TYPE is the command byte; only SMFIC_CONNECT/HELO/
--   MAIL/RCPT are predefined, DATA/EOH/EOM are string.byte("T"/"N"/"E").
-- * miltertest exits 1 when the script raises an error but prints nothing:
--   run() prints it (and a traceback) on stdout as "FAIL ...".
-- * mt.getreply returns the reply command byte; a reply with an SMTP text
--   (smfi_setreply) arrives as SMFIR_REPLYCODE ('y'), whose text only
--   mt.eom_check(conn, MT_SMTPREPLY, code, esc, text) can read, and only at
--   EOM. It compares the whole text: eom_check(conn, MT_SMTPREPLY, "550")
--   alone never matches a "550 5.6.0 ..." reply (so it proves nothing).
-- * mt.negotiate(conn, version, PROTOCOL_OPTIONS, ACTIONS): the man page
--   swaps the last two.
-- * mt.header copies name and value into a 1024-octet stack buffer without
--   a bound check (so does mt.mailfrom): longer inputs smash miltertest's
--   stack. Body strings are sent as they are, any length.
-- * A command libmilter ignores gets no reply: the mt.* call returns
--   "mt.milter_read() failed" after the read timeout (mt.set_timeout).
-- * Stages negotiated as unanswered (SMFIP_NR_*): miltertest writes the
--   command and reads nothing; mt.getreply then says SMFIR_CONTINUE, set
--   locally. The milter takes NR_DATA, NR_HDR, NR_EOH and NR_BODY, and
--   miltertest's default offer (SMFI_CURR_PROT) has them, so they are
--   negotiated: a reject found in those stages is held and answered at EOM,
--   where mt.eom_check(conn, MT_SMTPREPLY, ...) reads its text. open_answered()
--   offers everything but the NR_* flags, as an MTA that predates them:
--   every stage then gets a reply on the wire, but the milter cannot tell
--   (libmilter offers xxfi_negotiate all NR_* flags whatever the MTA sent,
--   and answers SMFIR_CONTINUE itself where the milter gives no reply), so
--   the reject still comes at EOM.
-- * libmilter stops reading a connection as soon as poll() reports the
--   hangup, without reading the commands still queued: commands sent without
--   waiting for a reply just before mt.disconnect may never reach the milter.

TIMEOUT = 10 -- seconds to wait for a reply (miltertest's default)
mt.set_timeout(TIMEOUT)

-- Runs the script's body: "PASS" on stdout, or "FAIL <error>" and exit 1.
function run(body)
  local ok, err = xpcall(body, debug.traceback)
  if not ok then
    mt.echo("FAIL " .. tostring(err))
    error(err, 0)
  end
  mt.echo("PASS")
end

local names = {}
for _, n in ipairs({"CONTINUE", "ACCEPT", "REJECT", "TEMPFAIL", "DISCARD", "REPLYCODE",
                    "SKIP"}) do
  local v = _G["SMFIR_" .. n]
  if v then names[v] = "SMFIR_" .. n end
end

function reply_name(r)
  if r == nil then return "nil" end
  if names[r] then return names[r] end
  if r == 0 then return "none" end
  return string.format("'%s'", string.char(r))
end

-- Fails the script (miltertest exits 1) with the caller's line.
function fail(fmt, ...)
  error(string.format(fmt, ...), 2)
end

-- ret: what an mt.* call returned (nil on success).
function sent(ret, what)
  if ret ~= nil then error(what .. ": " .. tostring(ret), 2) end
end

-- The last reply on conn must be want.
function expect(conn, want, what)
  local got = mt.getreply(conn)
  if got ~= want then
    error(string.format("%s: reply %s, want %s", what, reply_name(got), reply_name(want)), 2)
  end
end

-- Sends one step and checks its reply: step(conn, SMFIR_CONTINUE, "rcpt",
-- mt.rcptto, conn, "<b@example.net>").
function step(conn, want, what, fn, ...)
  local ret = fn(...)
  if ret ~= nil then error(what .. ": " .. tostring(ret), 2) end
  local got = mt.getreply(conn)
  if got ~= want then
    error(string.format("%s: reply %s, want %s", what, reply_name(got), reply_name(want)), 2)
  end
end

-- A command libmilter must ignore (no reply): the call times out (after one
-- second, the shortest read timeout miltertest has).
function ignored(what, fn, ...)
  mt.set_timeout(1)
  local ok, ret = pcall(fn, ...)
  mt.set_timeout(TIMEOUT)
  if ok and ret == nil then error(what .. ": got a reply, expected none", 2) end
end

-- miltertest's default protocol offer (SMFI_CURR_PROT of libmilter 8.14+)
-- and the same without any SMFIP_NR_* ("no reply") flag.
ALL_PROTOCOL = 0x1FFFFF
NR_ALL = SMFIP_NR_CONN + SMFIP_NR_HELO + SMFIP_NR_MAIL + SMFIP_NR_RCPT + SMFIP_NR_DATA +
         SMFIP_NR_UNKN + SMFIP_NR_HDR + SMFIP_NR_EOH + SMFIP_NR_BODY
ANSWERED_OFFER = ALL_PROTOCOL - NR_ALL
-- The stages the milter leaves unanswered when offered, and those it must
-- always answer.
UNANSWERED = {"SMFIP_NR_DATA", "SMFIP_NR_HDR", "SMFIP_NR_EOH", "SMFIP_NR_BODY"}
ANSWERED = {"SMFIP_NR_CONN", "SMFIP_NR_HELO", "SMFIP_NR_MAIL", "SMFIP_NR_RCPT",
            "SMFIP_NR_UNKN"}

-- Fails unless the negotiated NR_* flags are UNANSWERED (nr == true) or
-- none at all (nr == false); ANSWERED ones never.
function check_no_reply(conn, nr, label)
  for _, name in ipairs(UNANSWERED) do
    if mt.test_option(conn, _G[name]) ~= nr then
      error(string.format("%s: %s negotiated: %s, want %s", label or "negotiate", name,
                          tostring(not nr), tostring(nr)), 2)
    end
  end
  for _, name in ipairs(ANSWERED) do
    if mt.test_option(conn, _G[name]) then
      error(string.format("%s: %s negotiated", label or "negotiate", name), 2)
    end
  end
end

-- Ends the message with mt.eom, which must be answered SMFIR_REPLYCODE with
-- exactly the text reply = {code, esc, text} (what the SMTP client gets
-- after the final dot), and nothing else asked for.
function eom_reply(conn, what, reply)
  local code, esc, text = reply[1], reply[2], reply[3]
  local ret = mt.eom(conn)
  if ret ~= nil then error(what .. ": " .. tostring(ret), 2) end
  local got = mt.getreply(conn)
  if got ~= SMFIR_REPLYCODE then
    error(string.format("%s: reply %s, want SMFIR_REPLYCODE", what, reply_name(got)), 2)
  end
  if not mt.eom_check(conn, MT_SMTPREPLY, code, esc, text) then
    error(string.format("%s: reply text is not %q", what, code .. " " .. esc .. " " .. text), 2)
  end
  if mt.eom_check(conn, MT_HDRADD) then error(what .. ": a header was added", 2) end
  if mt.eom_check(conn, MT_QUARANTINE) then error(what .. ": quarantine requested", 2) end
end

-- Ends a clean message: mt.eom answered SMFIR_CONTINUE (so no reply text
-- was set: libmilter sends one only with a reject or tempfail), no header
-- added, no quarantine.
function eom_clean(conn, what)
  local ret = mt.eom(conn)
  if ret ~= nil then error(what .. ": " .. tostring(ret), 2) end
  local got = mt.getreply(conn)
  if got ~= SMFIR_CONTINUE then
    error(string.format("%s: reply %s, want SMFIR_CONTINUE", what, reply_name(got)), 2)
  end
  if mt.eom_check(conn, MT_HDRADD) then error(what .. ": a header was added", 2) end
  if mt.eom_check(conn, MT_QUARANTINE) then error(what .. ": quarantine requested", 2) end
end

-- Reply texts of the rules the scripts trigger.
HEADER_TOO_LONG = {"550", "5.6.0", "Header line too long"}
BODY_LINE_TOO_LONG = {"550", "5.6.0", "Body line too long"}
FILENAME_TOO_LONG = {"550", "5.6.0", "Attachment filename too long"}
TOO_MANY_INVALID = {"421", "4.7.0", "Too many invalid recipients"}

function connect()
  local conn = mt.connect(SOCKET, 50, 0.05)
  if conn == nil then error("mt.connect(" .. SOCKET .. ") failed", 2) end
  return conn
end

-- A connection that has negotiated miltertest's default offer (the milter
-- takes the UNANSWERED stages), sent CONNECT and (unless helo == false)
-- HELO, each answered with SMFIR_CONTINUE.
function open(host, ip, helo)
  local conn = connect()
  check_no_reply(conn, true, "default offer")
  step(conn, SMFIR_CONTINUE, "conninfo", mt.conninfo, conn, host or "mx.example.org",
       ip or "203.0.113.5")
  if helo ~= false then
    step(conn, SMFIR_CONTINUE, "helo", mt.helo, conn, helo or host or "mx.example.org")
  end
  return conn
end

-- open() on a connection that offers no SMFIP_NR_* flag (ANSWERED_OFFER,
-- all actions): DATA, every header, EOH and body chunk get a reply (from
-- libmilter: SMFIR_CONTINUE where the milter holds a verdict for EOM).
function open_answered(host, ip, helo)
  local conn = connect()
  sent(mt.negotiate(conn, nil, ANSWERED_OFFER, nil), "negotiate without NR flags")
  check_no_reply(conn, false, "answered offer")
  step(conn, SMFIR_CONTINUE, "conninfo", mt.conninfo, conn, host or "mx.example.org",
       ip or "203.0.113.5")
  if helo ~= false then
    step(conn, SMFIR_CONTINUE, "helo", mt.helo, conn, helo or host or "mx.example.org")
  end
  return conn
end

-- MAIL with the queue ID macro i (if qid), then each recipient, all continued.
function envelope(conn, qid, from, rcpts)
  if qid then sent(mt.macro(conn, SMFIC_MAIL, "i", qid), "macro i") end
  step(conn, SMFIR_CONTINUE, "mail " .. from, mt.mailfrom, conn, from)
  for _, r in ipairs(rcpts or {"<b@example.net>"}) do
    step(conn, SMFIR_CONTINUE, "rcpt " .. r, mt.rcptto, conn, r)
  end
end

-- Headers given as {{name, value}, ...}, each continued.
function headers(conn, list)
  for _, h in ipairs(list) do
    step(conn, SMFIR_CONTINUE, "header " .. h[1], mt.header, conn, h[1], h[2])
  end
end

function rep(ch, n) return string.rep(ch, n) end

-- A multipart/mixed body whose one attachment is called filename.
function mime_body(boundary, filename)
  return "--" .. boundary .. "\r\n" ..
         "Content-Type: text/plain\r\n\r\nHello.\r\n" ..
         "--" .. boundary .. "\r\n" ..
         "Content-Type: application/octet-stream\r\n" ..
         "Content-Disposition: attachment; filename=\"" .. filename .. "\"\r\n\r\n" ..
         "AAAA\r\n" ..
         "--" .. boundary .. "--\r\n"
end

-- Lines the runner checks on stdout: "RESULT key=value".
function result(key, value)
  mt.echo("RESULT " .. key .. "=" .. tostring(value))
end
