"""The ESP serial bootloader in Python: the chip's ROM loader and esptool's flasher stub.

``EspRom.handle`` takes one request packet (SLIP already removed) and returns the
packets the chip sends back. It keeps what a chip keeps: which loader runs, the
RAM an upload went to, the flash write under way, the UART's baud rate, its
registers and the flash chip (``cupctl.sim.espflash.NorFlash``) that tests
inspect. See docs/esprom.md for the commands and what each loader refuses.

Two loaders answer differently, and esptool relies on the differences:

- the **ROM** loader ends every response with 4 status bytes, answers SYNC with
  eight responses whose value is non-zero, returns SPI_FLASH_MD5 as 32 hex
  digits, erases a whole region at FLASH_BEGIN, and has no ERASE_FLASH or
  READ_FLASH (only the slow 64-byte READ_FLASH_SLOW);
- the **stub** (esptool's flasher stub, uploaded with MEM_BEGIN/MEM_DATA/MEM_END
  and greeting with ``OHAI``) ends responses with 2 status bytes (its own error
  codes, 0xC1 for a bad checksum...), answers SYNC with value 0, returns raw MD5
  bytes, erases as it writes, and streams READ_FLASH against the host's acks.

The emulator cannot execute the uploaded code: it checks that the RAM image is
byte for byte one of the stubs the installed esptool ships, and only then runs
"the stub" (its Python model). Any other program "runs" as a chip that says nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from cupctl.sim.espchips import SPI_USR_COMMAND_BIT, XTAL_HZ, Chip
from cupctl.sim.espflash import SECTOR, FlashRangeError, NorFlash

OPS = {
    0x02: "FLASH_BEGIN", 0x03: "FLASH_DATA", 0x04: "FLASH_END", 0x05: "MEM_BEGIN", 0x06: "MEM_END",
    0x07: "MEM_DATA", 0x08: "SYNC", 0x09: "WRITE_REG", 0x0A: "READ_REG", 0x0B: "SPI_SET_PARAMS",
    0x0D: "SPI_ATTACH", 0x0E: "READ_FLASH_SLOW", 0x0F: "CHANGE_BAUDRATE", 0x10: "FLASH_DEFL_BEGIN",
    0x11: "FLASH_DEFL_DATA", 0x12: "FLASH_DEFL_END", 0x13: "SPI_FLASH_MD5", 0x14: "GET_SECURITY_INFO",
    0xD0: "ERASE_FLASH", 0xD1: "ERASE_REGION", 0xD2: "READ_FLASH", 0xD3: "RUN_USER_CODE",
}
CODES = {name: code for code, name in OPS.items()}
ROM_ONLY = {"READ_FLASH_SLOW"}
STUB_ONLY = {"ERASE_FLASH", "ERASE_REGION", "READ_FLASH", "RUN_USER_CODE"}
SYNC_PAYLOAD = b"\x07\x07\x12\x20" + b"\x55" * 32
ROM_SYNC_VALUE = 0x20120707  # what the ESP32-family ROMs put in the value field of a SYNC response
CHECKSUM_SEED = 0xEF

# Why a command is refused, and the status each loader reports for it: the ROM's error byte
# (after a status byte of 1), the stub's 16-bit code (esptool: FatalError.WithResult).
REFUSALS = {
    "length": (0x05, 0xC000),  # the size field or a parameter is wrong
    "checksum": (0x07, 0xC100),
    "unsupported": (0x05, 0xC300),  # this loader has no such command
    "state": (0x06, 0xC600),  # data or end without a begin, out of sequence
    "range": (0x06, 0xC400),  # outside the flash (or the size SPI_SET_PARAMS gave), or RAM it cannot load
    "write": (0x08, 0xC400),  # the flash does not read back as written: the region was not erased
    "too_much": (0x05, 0xC900),  # more data than the begin announced
    "deflate": (0x0B, 0xC700),
}


class Refused(Exception):
    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind


@dataclass
class _Upload:
    """A MEM_BEGIN or FLASH_(DEFL_)BEGIN under way."""

    offset: int
    size: int  # bytes to write (stub); ROM: the region erased (FLASH) or the RAM bytes announced (MEM)
    blocks: int
    block_size: int
    next_seq: int = 0
    written: int = 0  # bytes that reached RAM or flash
    erased_to: int = 0  # stub: the flash is erased up to here
    inflate: Any = None  # a zlib decompressor for FLASH_DEFL_*


@dataclass
class _Reading:
    address: int
    left: int
    packet_size: int
    md5: Any


@dataclass(frozen=True)
class Stub:
    version: str  # esptool's stub_flasher subfolder: "2" (esp-flasher-stub) or "1" (legacy)
    entry: int
    text_start: int
    text: bytes
    data_start: int | None
    data: bytes | None


def esptool_stubs(chip_name: str) -> list[Stub]:
    """The flasher stubs for ``chip_name`` in the installed esptool (data files, not its code)."""
    spec = find_spec("esptool")
    if spec is None or not spec.submodule_search_locations:
        return []
    stubs = []
    for folder in sorted((Path(list(spec.submodule_search_locations)[0]) / "targets" / "stub_flasher").glob("*")):
        path = folder / ("%s.json" % chip_name)
        if path.is_file():
            stub = json.loads(path.read_text())
            stubs.append(Stub(folder.name, stub["entry"], stub["text_start"], base64.b64decode(stub["text"]),
                              stub.get("data_start"), base64.b64decode(stub["data"]) if "data" in stub else None))
    return stubs


_BIT_TABLES = [bytes((b >> bit) & 1 for b in range(256)) for bit in range(8)]


def checksum(data: bytes) -> int:
    """The loaders' checksum: 0xEF XOR every byte. Bit by bit, that is the parity of how many
    bytes have the bit set, which bytes.translate and count work out at C speed."""
    parity = sum((data.translate(table).count(1) & 1) << bit for bit, table in enumerate(_BIT_TABLES))
    return CHECKSUM_SEED ^ parity


class EspRom:
    """One chip in download mode. ``reset()`` is the chip coming out of reset with GPIO0 held low."""

    def __init__(self, chip: Chip, flash: NorFlash | None = None):
        self.chip = chip
        self.flash = flash or NorFlash(chip.flash_size)
        self.stubs = esptool_stubs(chip.name)
        self.log: list[str] = []  # every command received, by name, since the emulator started
        self.refusals: list[tuple[str, str, str]] = []  # (command, kind, reason)
        self.resets = 0
        self.reset()

    def reset(self, download: bool = True) -> None:
        """A chip reset: into the ROM loader (download mode), or running the app (which says nothing)."""
        self.mode = "rom" if download else "app"
        self.stub: Stub | None = None  # which of esptool's stubs runs, once one does
        self.uart_baud: int | None = None  # the ROM auto-bauds on the first SYNC
        self.regs = dict(self.chip.registers)
        self.ram: dict[int, bytearray] = {}
        self.spi_attached = False
        self.flash_limit = self.flash.size  # what SPI_SET_PARAMS says the flash holds
        self._mem: _Upload | None = None
        self._write: _Upload | None = None
        self._read: _Reading | None = None  # a stub READ_FLASH streaming
        self.resets += 1

    @property
    def is_stub(self) -> bool:
        return self.mode == "stub"

    # --- packets ---

    def handle(self, packet: bytes, host_baud: int | None = None) -> list[bytes]:
        """Answer one request. ``host_baud`` is the host port's rate, which the ROM locks onto at SYNC."""
        if self.mode == "app":
            return []
        if self._read is not None:
            return self._read_ack(packet, self._read)
        if len(packet) < 8 or packet[0] != 0x00:
            return []  # not a request: the loaders ignore it
        op, size, chk = struct.unpack_from("<BHI", packet, 1)
        name = OPS.get(op, "0x%02X" % op)
        self.log.append(name)
        data = packet[8:]
        try:
            if size != len(data):
                raise Refused("length", "size field %d, %d bytes of data" % (size, len(data)))
            if name not in OPS.values() or (name in ROM_ONLY and self.is_stub) \
                    or (name in STUB_ONLY and not self.is_stub):
                raise Refused("unsupported", "the %s loader has no command %s" % (self.mode, name))
            if name == "SYNC":
                return self._sync(data, host_baud)
            answer = getattr(self, "_" + name.lower())(data, chk)
        except Refused as refused:
            self.refusals.append((name, refused.kind, str(refused)))
            rom_error, stub_code = REFUSALS[refused.kind]
            status = struct.pack(">H", stub_code) if self.is_stub else bytes([1, rom_error, 0, 0])
            return [self._response(op, 0, status)]
        if answer is None:  # RUN_USER_CODE: the loader is gone before it could answer
            return []
        value, body, after = answer
        status = b"\0\0" if self.is_stub else b"\0\0\0\0"
        return [self._response(op, value, body + status)] + after

    @staticmethod
    def _response(op: int, value: int, body: bytes) -> bytes:
        return struct.pack("<BBHI", 0x01, op, len(body), value) + body

    def _sync(self, data: bytes, host_baud: int | None) -> list[bytes]:
        if data != SYNC_PAYLOAD:
            raise Refused("length", "not a SYNC payload")
        if self.uart_baud is None:
            self.uart_baud = host_baud
        value = 0 if self.is_stub else ROM_SYNC_VALUE  # esptool tells a running stub by the 0
        status = b"\0\0" if self.is_stub else b"\0\0\0\0"
        return [self._response(CODES["SYNC"], value, status)] * 8

    # --- registers and the SPI controller ---

    def _read_reg(self, data: bytes, chk: int):
        _need(data, 4)
        (address,) = struct.unpack("<I", data)
        if address == self.chip.uart_clkdiv_reg:  # the ROM set its divider for the baud rate it locked onto
            return round(XTAL_HZ / (self.uart_baud or 115200)), b"", []
        return self.regs.get(address, 0), b"", []

    def _write_reg(self, data: bytes, chk: int):
        if not data or len(data) % 16:
            raise Refused("length", "WRITE_REG takes 16-byte entries")
        for address, value, mask, _delay_us in struct.iter_unpack("<IIII", data):
            self.regs[address] = (self.regs.get(address, 0) & ~mask & 0xFFFFFFFF) | (value & mask)
            spi = self.chip.spi
            if address == spi.base and self.regs[address] & SPI_USR_COMMAND_BIT:
                self._spi_user_command()
        return 0, b"", []

    def _spi_user_command(self) -> None:
        """Run the command esptool set up in the SPI controller's user registers (flash ID, SFDP, status)."""
        spi, regs = self.chip.spi, self.regs
        usr = regs.get(spi.base + spi.usr, 0)
        opcode = regs.get(spi.base + spi.usr2, 0) & 0xFF
        address = None
        if usr & (1 << 30):
            bits = ((regs.get(spi.base + spi.usr1, 0) >> 26) & 0x3F) + 1
            address = regs.get(spi.base + 0x04, 0)
            if spi.addr_msb:
                address >>= 32 - bits
        mosi_bits = regs.get(spi.base + spi.mosi_dlen, 0) + 1 if usr & (1 << 27) else 0
        miso_bits = regs.get(spi.base + spi.miso_dlen, 0) + 1 if usr & (1 << 28) else 0
        w0 = spi.base + spi.w0
        mosi = b"".join(struct.pack("<I", regs.get(w0 + 4 * i, 0)) for i in range((mosi_bits + 31) // 32))
        miso = self.flash.spi_command(opcode, address, mosi[: mosi_bits // 8], (miso_bits + 7) // 8)
        if miso:
            regs[w0] = int.from_bytes(miso[:4].ljust(4, b"\0"), "little") & ((1 << min(miso_bits, 32)) - 1)
        regs[spi.base] &= ~SPI_USR_COMMAND_BIT

    def _get_security_info(self, data: bytes, chk: int):
        _need(data, 0)
        if self.chip.security_info is None:
            raise Refused("unsupported", "%s has no GET_SECURITY_INFO" % self.chip.title)
        return 0, self.chip.security_info, []

    def _change_baudrate(self, data: bytes, chk: int):
        _need(data, 8)
        new, old = struct.unpack("<II", data)
        if new < 9600 or (self.is_stub and old == 0):
            raise Refused("length", "CHANGE_BAUDRATE to %d (old %d)" % (new, old))
        self.uart_baud = new  # the response still goes out at the old rate; the transport sends it first
        return 0, b"", []

    # --- RAM upload and the stub ---

    def _mem_begin(self, data: bytes, chk: int):
        _need(data, 16)
        size, blocks, block_size, offset = struct.unpack("<IIII", data)
        if not any(start <= offset and offset + size <= end for start, end in self.chip.ram):
            raise Refused("range", "0x%x+0x%x is not in %s RAM" % (offset, size, self.chip.title))
        if blocks * block_size < size:
            raise Refused("length", "%d blocks of %d bytes cannot hold %d" % (blocks, block_size, size))
        self._mem = _Upload(offset, size, blocks, block_size)
        self.ram[offset] = bytearray()
        return 0, b"", []

    def _mem_data(self, data: bytes, chk: int):
        upload = self._mem
        if upload is None:
            raise Refused("state", "MEM_DATA before MEM_BEGIN")
        block = _block(data, chk, upload)
        if upload.written + len(block) > upload.size:
            raise Refused("too_much", "more than the %d bytes announced" % upload.size)
        self.ram[upload.offset] += block
        upload.written += len(block)
        upload.next_seq += 1
        return 0, b"", []

    def _mem_end(self, data: bytes, chk: int):
        _need(data, 8)
        no_run, entry = struct.unpack("<II", data)
        upload, self._mem = self._mem, None
        if upload is None or upload.written != upload.size:
            raise Refused("state", "MEM_END before all the data arrived")
        if no_run:
            return 0, b"", []
        if self.is_stub:
            raise Refused("unsupported", "the stub does not run other programs")
        self.stub = next((s for s in self.stubs if self._holds(s) and s.entry == entry), None)
        if self.stub is None:  # something else: it runs, and says nothing we could emulate
            self.mode = "app"
            return 0, b"", []
        self.mode = "stub"
        return 0, b"", [b"OHAI"]

    def _holds(self, stub: Stub) -> bool:
        return bytes(self.ram.get(stub.text_start, b"")) == stub.text and (
            stub.data is None or bytes(self.ram.get(stub.data_start or 0, b"")) == stub.data)

    # --- flash ---

    def _spi_attach(self, data: bytes, chk: int):
        _need(data, 4 if self.is_stub else 8)  # the ROM takes an extra word
        self.spi_attached = True
        return 0, b"", []

    def _spi_set_params(self, data: bytes, chk: int):
        _need(data, 24)
        _id, total, _block, sector, _page, _mask = struct.unpack("<IIIIII", data)
        if total == 0 or sector != SECTOR:
            raise Refused("length", "flash of %d bytes with %d-byte sectors" % (total, sector))
        self.flash_limit = total
        return 0, b"", []

    def _flash_begin(self, data: bytes, chk: int, compressed: bool = False):
        words = (4, 5) if self.is_stub else self.chip.rom_flash_begin_words
        if len(data) not in [4 * n for n in words]:
            raise Refused("length", "%d bytes of parameters" % len(data))
        size, blocks, block_size, offset = struct.unpack_from("<IIII", data)
        if len(data) == 20 and struct.unpack_from("<I", data, 16)[0]:
            raise Refused("unsupported", "encrypted writes are not emulated")
        if not self.is_stub and not self.spi_attached and size:
            raise Refused("state", "no SPI_ATTACH: the ROM has not attached the flash")
        if offset + size > self.flash_limit:
            raise Refused("range", "0x%x+0x%x is past the end of the %d-byte flash" % (offset, size,
                                                                                       self.flash_limit))
        if block_size == 0 or block_size > 0x10000:
            raise Refused("length", "block size %d" % block_size)
        upload = _Upload(offset, size, blocks, block_size, erased_to=offset)
        if compressed:
            upload.inflate = zlib.decompressobj()
        if not self.is_stub:  # the ROM erases the whole region up front; the stub as it goes
            self._erase(offset, size)
        self._write = upload
        return 0, b"", []

    def _flash_defl_begin(self, data: bytes, chk: int):
        return self._flash_begin(data, chk, compressed=True)

    def _flash_data(self, data: bytes, chk: int):
        upload = self._write
        if upload is None or upload.inflate is not None:
            raise Refused("state", "FLASH_DATA before FLASH_BEGIN")
        block = _block(data, chk, upload, in_order=self.is_stub)
        seq = struct.unpack_from("<I", data, 4)[0]
        if seq >= upload.blocks:
            raise Refused("too_much", "block %d of %d" % (seq, upload.blocks))
        if self.is_stub:  # only the announced bytes, in order: the padding of the last block is dropped
            self._program(upload.offset + upload.written, block[: upload.size - upload.written], upload)
        else:  # each block at its place, padding and all
            self._program(upload.offset + seq * upload.block_size, block, upload)
        upload.next_seq = seq + 1
        return 0, b"", []

    def _flash_defl_data(self, data: bytes, chk: int):
        upload = self._write
        if upload is None or upload.inflate is None:
            raise Refused("state", "FLASH_DEFL_DATA before FLASH_DEFL_BEGIN")
        block = _block(data, chk, upload, in_order=True)
        if upload.inflate.eof:
            raise Refused("too_much", "data after the end of the compressed stream")
        try:
            out = upload.inflate.decompress(block)
        except zlib.error as e:
            raise Refused("deflate", "inflate: %s" % e)
        if upload.written + len(out) > upload.size:
            raise Refused("too_much", "inflates past the %d bytes announced" % upload.size)
        self._program(upload.offset + upload.written, out, upload)
        upload.next_seq += 1
        return 0, b"", []

    def _flash_end(self, data: bytes, chk: int):
        _need(data, 4)  # reboot (0) or run the app (1): the same for an emulated chip
        upload, self._write = self._write, None
        if upload is None:
            raise Refused("state", "end without a begin")
        if self.is_stub and upload.written != upload.size:
            raise Refused("length", "ended after %d of %d bytes" % (upload.written, upload.size))
        if not self.is_stub:  # the ROM leaves the loader and boots the flash
            self.mode = "app"
        return 0, b"", []

    _flash_defl_end = _flash_end

    def _program(self, address: int, data: bytes, upload: _Upload) -> None:
        if address + len(data) > self.flash_limit:
            raise Refused("range", "0x%x+0x%x is past the end of the flash" % (address, len(data)))
        if self.is_stub:  # erase just in time, a sector ahead of the data
            end = address + len(data)
            if end > upload.erased_to:
                self._erase(upload.erased_to, end - upload.erased_to)
                upload.erased_to = -(-end // SECTOR) * SECTOR
        try:
            same = self.flash.program(address, data)
        except FlashRangeError as e:
            raise Refused("range", str(e))
        if not same:
            raise Refused("write", "0x%x does not read back as written: not erased" % address)
        upload.written += len(data)

    def _erase(self, address: int, length: int) -> None:
        if length:
            try:
                self.flash.erase(address, length)
            except FlashRangeError as e:
                raise Refused("range", str(e))

    def _spi_flash_md5(self, data: bytes, chk: int):
        _need(data, 16)
        address, size = struct.unpack_from("<II", data)
        digest = hashlib.md5(self._flash_read(address, size))
        return 0, digest.digest() if self.is_stub else digest.hexdigest().encode(), []

    def _flash_read(self, address: int, size: int) -> bytes:
        try:
            return self.flash.read(address, size)
        except FlashRangeError as e:
            raise Refused("range", str(e))

    def _erase_flash(self, data: bytes, chk: int):
        _need(data, 0)
        self.flash.erase_chip()
        return 0, b"", []

    def _erase_region(self, data: bytes, chk: int):
        _need(data, 8)
        address, size = struct.unpack("<II", data)
        if address % SECTOR or size % SECTOR:
            raise Refused("length", "0x%x+0x%x is not whole sectors" % (address, size))
        self._erase(address, size)
        return 0, b"", []

    def _read_flash_slow(self, data: bytes, chk: int):
        _need(data, 8)
        address, size = struct.unpack("<II", data)
        if size > 64:
            raise Refused("length", "the ROM reads at most 64 bytes at a time")
        return 0, self._flash_read(address, size).ljust(64, b"\0"), []

    def _read_flash(self, data: bytes, chk: int):
        _need(data, 16)
        address, size, packet_size, _in_flight = struct.unpack("<IIII", data)
        if not 0 < packet_size <= 4096:
            raise Refused("length", "packets of %d bytes" % packet_size)
        self._flash_read(address, size)  # refuse a range outside the flash before streaming
        self._read = _Reading(address, size, packet_size, hashlib.md5())
        return 0, b"", self._next_read_packet(self._read)

    def _next_read_packet(self, reading: _Reading) -> list[bytes]:
        """The stub sends one packet and waits for its ack (esp-flasher-stub keeps one in flight)."""
        if reading.left == 0:
            self._read = None
            return [reading.md5.digest()]
        chunk = self.flash.read(reading.address, min(reading.left, reading.packet_size))
        reading.md5.update(chunk)
        reading.address += len(chunk)
        reading.left -= len(chunk)
        return [chunk]

    def _read_ack(self, packet: bytes, reading: _Reading) -> list[bytes]:
        if len(packet) != 4:  # not an ack: the stub stops streaming, sends its digest and listens again
            self._read = None
            return [reading.md5.digest()]
        return self._next_read_packet(reading)

    def _run_user_code(self, data: bytes, chk: int) -> None:
        self.mode = "app"


def _need(data: bytes, length: int) -> None:
    if len(data) != length:
        raise Refused("length", "%d bytes of parameters, not %d" % (len(data), length))


def _block(data: bytes, chk: int, upload: _Upload, in_order: bool = True) -> bytes:
    """The payload of a MEM_DATA, FLASH_DATA or FLASH_DEFL_DATA: checked length, checksum and order."""
    if len(data) < 16:
        raise Refused("length", "no data header")
    length, seq = struct.unpack_from("<II", data)
    block = data[16:]
    if length != len(block):
        raise Refused("length", "header says %d bytes, %d came" % (length, len(block)))
    if checksum(block) != chk:
        raise Refused("checksum", "checksum 0x%x, the data sums to 0x%02x" % (chk, checksum(block)))
    if in_order and seq != upload.next_seq:
        raise Refused("state", "block %d where %d was due" % (seq, upload.next_seq))
    return block
