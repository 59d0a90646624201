"""A test fixture that behaves like an inspecting firewall in front of an SMTP
server (Cisco ASA `inspect esmtp` and the like), for tests/integration/test_probe.py.

It listens on a loopback address, forwards each connection to the real
server, and can do what such a firewall does to SMTP:

  mask_banner      replace the text of the 220 greeting with asterisks
                   ("220 *****************"), as ASA `mask-banner` does;
  mask_starttls    replace STARTTLS in the EHLO reply with XXXXXXXA, and
                   answer a STARTTLS command itself with 502 (the server never
                   sees it), as the ASA does without `allow-tls`;
  banner_delay     hold the greeting for that many seconds (a busy inspector);
  reset_line       reset the connection (TCP RST) when the client sends a line
                   longer than that many octets, as the ASA's
                   `match header line length gt 998` / `drop-connection` does.

It is an SMTP-aware relay of lines, not a general proxy: enough to show what
the probe reports. Everything runs in threads of the test process; stop()
closes the listener and every connection. Traffic stays on loopback.
"""

import re
import socket
import struct
import threading
import time


class FirewallProxy:
    def __init__(self, listen_addr, upstream, mask_banner=False, mask_starttls=False,
                 banner_delay=0.0, reset_line=0):
        self.upstream = upstream
        self.mask_banner = mask_banner
        self.mask_starttls = mask_starttls
        self.banner_delay = banner_delay
        self.reset_line = reset_line
        self.resets = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((listen_addr, 0))
        self._sock.listen(16)
        self.address = listen_addr
        self.port = self._sock.getsockname()[1]
        self._stopping = False
        self._conns = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def target(self):
        return f"{self.address}:{self.port}"

    def stop(self):
        self._stopping = True
        try:
            self._sock.close()
        except OSError:
            pass
        with self._lock:
            for s in self._conns:
                try:
                    s.close()
                except OSError:
                    pass

    def _accept(self):
        while not self._stopping:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            server = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        with self._lock:
            self._conns += [client, server]
        state = {"ehlo": False, "closed": False}

        def reset():
            # SO_LINGER with a zero timeout: close() sends RST, as the ASA does.
            self.resets += 1
            state["closed"] = True
            for s in (client, server):
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
                except OSError:
                    pass

        def server_to_client():
            first = True
            buf = b""
            try:
                while not state["closed"]:
                    data = server.recv(4096)
                    if not data:
                        break
                    buf += data
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        line += b"\n"
                        if first:
                            first = False
                            if self.banner_delay:
                                time.sleep(self.banner_delay)
                            if self.mask_banner and line.startswith(b"220"):
                                text = line[4:].rstrip(b"\r\n")
                                line = line[:4] + b"*" * len(text) + b"\r\n"
                        elif self.mask_starttls and state["ehlo"]:
                            line = re.sub(rb"^(250[- ])STARTTLS", rb"\1XXXXXXXA", line)
                        client.sendall(line)
            except OSError:
                pass
            finally:
                if not state["closed"]:
                    try:
                        client.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass

        threading.Thread(target=server_to_client, daemon=True).start()
        buf = b""
        try:
            while not state["closed"]:
                data = client.recv(4096)
                if not data:
                    break
                buf += data
                if self.reset_line and len(buf.split(b"\n")[-1]) > self.reset_line:
                    reset()
                    return
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    line += b"\n"
                    if self.reset_line and len(line.rstrip(b"\r\n")) > self.reset_line:
                        reset()
                        return
                    verb = line[:8].upper()
                    if verb.startswith((b"EHLO", b"HELO")):
                        state["ehlo"] = True
                    if self.mask_starttls and verb.startswith(b"STARTTLS"):
                        client.sendall(b"502 5.5.1 Command not implemented\r\n")
                        continue
                    server.sendall(line)
        except OSError:
            pass
        finally:
            if not state["closed"]:
                try:
                    server.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
