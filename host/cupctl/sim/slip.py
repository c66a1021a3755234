"""SLIP framing (RFC 1055) as the ESP serial bootloaders use it.

Every packet, in both directions, starts and ends with 0xC0; inside it 0xC0 is
sent as 0xDB 0xDC and 0xDB as 0xDB 0xDD.
"""

from __future__ import annotations

import re

_BAD_ESCAPE = re.compile(rb"\xdb(?![\xdc\xdd])")


def encode(packet: bytes) -> bytes:
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


def decode(body: bytes) -> bytes | None:
    """One packet's body without its 0xC0s; None if an escape is broken."""
    if _BAD_ESCAPE.search(body):
        return None
    return body.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")


class Decoder:
    """Turns a byte stream into packets. Bytes between packets (line noise, a boot log echoed
    back) are skipped, as the ROM skips them; a packet with a broken escape is dropped whole."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._in_packet = False
        self.dropped = 0  # packets dropped for a broken escape
        self.noise = 0  # bytes outside any packet

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        packets = []
        while True:
            if not self._in_packet:
                start = self._buffer.find(0xC0)
                if start < 0:
                    self.noise += len(self._buffer)
                    self._buffer.clear()
                    return packets
                self.noise += start
                del self._buffer[: start + 1]
                self._in_packet = True
            end = self._buffer.find(0xC0)
            if end < 0:
                return packets
            body = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if not body:  # back-to-back 0xC0s: the second one opens the packet
                continue
            self._in_packet = False
            packet = decode(body)
            if packet is None:
                self.dropped += 1
            else:
                packets.append(packet)
