"""The SPI NOR flash chip behind an emulated ESP: its bytes, its sectors and its SPI commands.

NOR flash erases to 0xFF in 4 KB sectors, and programming can only clear bits
(the new byte is ``old & new``): data written over a region that was not erased
first comes out wrong, as on a real chip. The JEDEC ID and SFDP table are those
of a Winbond W25Q series part of the chosen size, which is what esptool asks
for when it checks the flash connection and detects its size.
"""

from __future__ import annotations

SECTOR = 0x1000
_WINBOND = 0xEF
_SIZE_CODES = {1 << 21: 0x15, 1 << 22: 0x16, 1 << 23: 0x17, 1 << 24: 0x18}  # JEDEC capacity byte: 2**code bytes


class FlashRangeError(ValueError):
    """An address range outside the chip."""


class NorFlash:
    def __init__(self, size: int = 4 << 20):
        if size not in _SIZE_CODES:
            raise ValueError("flash size must be one of %s bytes" % sorted(_SIZE_CODES))
        self.size = size
        self.data = bytearray(b"\xff" * size)
        self.status = 0  # status registers 1-3, as one 24-bit value
        self.erased_sectors = 0  # sector erases done, chip erase included (for tests and benchmarks)

    @property
    def jedec_id(self) -> bytes:
        return bytes([_WINBOND, 0x40, _SIZE_CODES[self.size]])

    def _check(self, address: int, length: int) -> None:
        if address < 0 or length < 0 or address + length > self.size:
            raise FlashRangeError("0x%x+0x%x is outside the %d-byte flash" % (address, length, self.size))

    def read(self, address: int, length: int) -> bytes:
        self._check(address, length)
        return bytes(self.data[address : address + length])

    def erase(self, address: int, length: int) -> None:
        """Erase every sector that [address, address+length) touches."""
        start = address - address % SECTOR
        end = -(-(address + length) // SECTOR) * SECTOR
        self._check(start, end - start)
        self.data[start:end] = b"\xff" * (end - start)
        self.erased_sectors += (end - start) // SECTOR

    def erase_chip(self) -> None:
        self.data[:] = b"\xff" * self.size
        self.erased_sectors += self.size // SECTOR

    def program(self, address: int, data: bytes) -> bool:
        """Program ``data``; False if the flash does not read back as ``data`` (region not erased)."""
        self._check(address, len(data))
        old = self.data[address : address + len(data)]
        self.data[address : address + len(data)] = bytes(a & b for a, b in zip(old, data))
        return self.data[address : address + len(data)] == data

    def sfdp(self, address: int, length: int) -> bytes:
        """The Serial Flash Discoverable Parameters table: signature, one header per parameter table
        (JEDEC's, then the vendor's, whose ID byte at 0x10 esptool reads to spot XMC parts)."""
        table = bytearray(b"\xff" * 256)
        table[0:8] = b"SFDP" + bytes([0x06, 0x01, 0x01, 0xFF])
        table[8:16] = bytes([0x00, 0x06, 0x01, 0x10, 0x80, 0x00, 0x00, 0xFF])
        table[16:24] = bytes([_WINBOND, 0x00, 0x01, 0x03, 0xD0, 0x00, 0x00, 0xFF])
        return bytes(table[address : address + length]).ljust(length, b"\xff")

    def spi_command(self, opcode: int, address: int | None, mosi: bytes, miso_len: int) -> bytes:
        """One command as the SPI controller's user mode sends it; returns ``miso_len`` bytes."""
        if opcode == 0x9F:  # RDID
            reply = self.jedec_id
        elif opcode == 0x5A:  # RDSFDP
            reply = self.sfdp(address or 0, miso_len)
        elif opcode in (0x05, 0x35, 0x15):  # RDSR, RDSR2, RDSR3
            reply = bytes([(self.status >> (8 * (0x05, 0x35, 0x15).index(opcode))) & 0xFF])
        elif opcode in (0x01, 0x31, 0x11) and mosi:  # WRSR (one or two bytes), WRSR2, WRSR3
            shift = 8 * (0x01, 0x31, 0x11).index(opcode)
            value = int.from_bytes(mosi[:2] if opcode == 0x01 else mosi[:1], "little")
            width = 16 if opcode == 0x01 and len(mosi) > 1 else 8
            mask = ((1 << width) - 1) << shift
            self.status = (self.status & ~mask) | ((value << shift) & mask)
            reply = b""
        else:  # write enable/disable, resets and power-down: nothing to answer
            reply = b""
        return reply[:miso_len].ljust(miso_len, b"\xff")
