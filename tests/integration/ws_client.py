"""A small RFC 6455 WebSocket client on raw sockets, for the tests: sluice-admin's
/admin/stream (test_admin_stream) and Chromium's DevTools protocol (test_admin_page).

Written here rather than taken from PyPI because the tests need what a library hides:
the refused handshake's HTTP status and problem body, a receive buffer set before the
connection (SO_RCVBUF, for a client that never reads), and the close frame's code.
"""
import base64
import hashlib
import json
import os
import socket
import struct
import urllib.parse

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Refused(Exception):
    """The server answered the upgrade with an HTTP status other than 101."""

    def __init__(self, status, headers, body):
        super().__init__("handshake refused: HTTP %d %s" % (status, body[:200]))
        self.status, self.headers, self.body = status, headers, body

    def problem(self):
        return json.loads(self.body)


class Closed(Exception):
    """The connection ended: code and reason of the close frame (None at EOF)."""

    def __init__(self, code=None, reason=""):
        super().__init__("closed: %s %s" % (code, reason))
        self.code, self.reason = code, reason


def b64url(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


class WebSocket:
    def __init__(self, url, headers=None, protocols=None, rcvbuf=None, timeout=10.0):
        u = urllib.parse.urlsplit(url)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((u.hostname, u.port or 80))
        key = base64.b64encode(os.urandom(16)).decode()
        path = u.path + ("?" + u.query if u.query else "")
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (u.hostname, u.port or 80),
                 "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
        if protocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed()
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        first, *rest = head.decode("latin-1").split("\r\n")
        status = int(first.split()[1])
        self.headers = {}
        for line in rest:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if status != 101:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
            self.sock.close()
            raise Refused(status, self.headers, self.buf.decode("utf-8", "replace"))
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        if self.headers.get("sec-websocket-accept") != want:
            raise ValueError("bad Sec-WebSocket-Accept")
        self.protocol = self.headers.get("sec-websocket-protocol")

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise Closed()
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, opcode, data):
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def send_text(self, text):
        self._send(0x1, text.encode())

    def close(self, code=1000):
        try:
            self._send(0x8, struct.pack("!H", code))
        except OSError:
            pass
        self.sock.close()

    def recv(self, timeout=None):
        """The next text message (str); answers pings; Closed at a close frame or EOF;
        socket.timeout when nothing came within timeout."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        parts = []
        while True:
            b0, b1 = self._need(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._need(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._need(8))[0]
            mask = self._need(4) if b1 & 0x80 else None
            data = self._need(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                raise Closed(code, data[2:].decode("utf-8", "replace"))
            if opcode == 0x9:
                self._send(0xA, data)
                continue
            if opcode == 0xA:
                continue
            parts.append(data)
            if b0 & 0x80:
                return b"".join(parts).decode("utf-8")
