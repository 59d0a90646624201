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
--   mt.eom_check(conn, MT_SMTPREPLY, ...) can read, and only at EOM.
-- * mt.negotiate(conn, version, PROTOCOL_OPTIONS, ACTIONS): the man page
--   swaps the last two.
-- * mt.header copies name and value into a 1024-octet stack buffer without
--   a bound check (so does mt.mailfrom): longer inputs smash miltertest's
--   stack. Body strings are sent as they are, any length.
-- * A command libmilter ignores gets no reply: the mt.* call returns
--   "mt.milter_read() failed" after the read timeout (mt.set_timeout).

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

function connect()
  local conn = mt.connect(SOCKET, 50, 0.05)
  if conn == nil then error("mt.connect(" .. SOCKET .. ") failed", 2) end
  return conn
end

-- A connection that has negotiated, sent CONNECT and (unless helo == false)
-- HELO, each answered with SMFIR_CONTINUE.
function open(host, ip, helo)
  local conn = connect()
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
