"""A browser that stops reading: a raw WebSocket over a socket with a tiny receive buffer."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct


class StalledBrowser:
    """Opens `/ws`, subscribes, and then reads nothing until told to."""

    def __init__(self, port: int, topic_filter: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                "GET /ws HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("no handshake reply")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError(head.decode(errors="replace"))
        self.send({"op": "subscribe", "topic": topic_filter})

    def send(self, op: dict[str, object]) -> None:
        payload = json.dumps(op).encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert len(payload) < 126
        self.sock.sendall(struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked)

    def read_until_closed(self, timeout: float = 10.0) -> tuple[int | None, str]:
        """Read everything; return the close frame's (code, reason), or (None, why) if cut."""
        self.sock.settimeout(timeout)
        buffer = b""
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    return _close_frame(buffer) or (None, "connection closed")
                buffer += chunk
                buffer, closed = _skip_frames(buffer)
                if closed:
                    return closed
        except ConnectionResetError:
            return None, "connection reset"

    def close(self) -> None:
        self.sock.close()


def _skip_frames(buffer: bytes) -> tuple[bytes, tuple[int | None, str] | None]:
    while len(buffer) >= 2:
        opcode = buffer[0] & 0x0F
        length = buffer[1] & 0x7F
        offset = 2
        if length == 126:
            if len(buffer) < 4:
                break
            length = struct.unpack("!H", buffer[2:4])[0]
            offset = 4
        elif length == 127:
            if len(buffer) < 10:
                break
            length = struct.unpack("!Q", buffer[2:10])[0]
            offset = 10
        if len(buffer) < offset + length:
            break
        body = buffer[offset : offset + length]
        buffer = buffer[offset + length :]
        if opcode == 0x8:
            code = struct.unpack("!H", body[:2])[0] if len(body) >= 2 else None
            return buffer, (code, body[2:].decode(errors="replace"))
    return buffer, None


def _close_frame(buffer: bytes) -> tuple[int | None, str] | None:
    return _skip_frames(buffer)[1]
