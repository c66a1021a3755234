"""How bytes cross the cable between a host and a board, for the virtual board's pseudo-terminal.

A pty moves bytes as fast as the kernel copies them, so without pacing a deploy
or a telemetry stream on the virtual board costs nothing a real link costs.
Each direction of a paced link is a wire: a byte occupies it for 1/rate
seconds, bytes travel in packets (what a USB transfer carries), and each
packet arrives ``latency_s`` after its last byte left.

- ``uart115200``: a USB-UART bridge (CP210x, CH340) at 115200 baud, 8N1, so
  10 bits per byte: 11,520 bytes/s each way, 64-byte USB packets, 2 ms from
  the wire to the host's driver. Bytes the host does not read are lost, as a
  UART drops what nobody takes.
- ``usb``: native USB (CDC, ESP32-S2/S3 and the USB-Serial-JTAG of C3/S3):
  no baud rate; full-speed 64-byte packets, 1 ms per USB frame, about
  1 MB/s (the host's driver, not the wire, limits it); the device waits
  rather than dropping while the host does not read.
- ``unpaced``: the bare pty.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class LinkModel:
    name: str
    bytes_per_s: float  # each way
    packet: int  # bytes that arrive together
    latency_s: float  # per packet, after its last byte left
    drops_unread: bool  # True: output nobody reads is lost (UART); False: it waits (USB)


LINKS: dict[str, LinkModel | None] = {
    "unpaced": None,
    "uart115200": LinkModel("uart115200", 115200 / 10, 64, 0.002, True),
    "usb": LinkModel("usb", 1_000_000, 64, 0.001, False),
}


def model(name: str) -> LinkModel | None:
    """The link called ``name``; ValueError naming the choices otherwise."""
    try:
        return LINKS[name]
    except KeyError:
        raise ValueError("unknown link %r: choose one of %s" % (name, ", ".join(LINKS)))


class Wire:
    """One direction of a paced link: ``put`` what was sent, ``take`` what has arrived by ``now``."""

    def __init__(self, link: LinkModel):
        self.link = link
        self._free_at = 0.0  # when the wire finishes the bytes already on it
        self._packets: deque[tuple[float, bytes]] = deque()  # (arrival time, bytes), in order
        self.backlog = 0  # bytes sent that have not been taken

    def put(self, data: bytes, now: float) -> None:
        link = self.link
        for i in range(0, len(data), link.packet):
            piece = data[i : i + link.packet]
            self._free_at = max(now, self._free_at) + len(piece) / link.bytes_per_s
            self._packets.append((self._free_at + link.latency_s, piece))
        self.backlog += len(data)

    def take(self, now: float) -> bytes:
        arrived = []
        while self._packets and self._packets[0][0] <= now:
            arrived.append(self._packets.popleft()[1])
        data = b"".join(arrived)
        self.backlog -= len(data)
        return data

    def give_back(self, data: bytes, now: float) -> None:
        """Keep bytes the receiver could not take yet (USB back-pressure): first out next time."""
        if data:
            self._packets.appendleft((now, data))
            self.backlog += len(data)

    def next_arrival(self) -> float | None:
        return self._packets[0][0] if self._packets else None
