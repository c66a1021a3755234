"""Firmware images for the emulated bootloader, laid out as MicroPython's downloads are.

A MicroPython ``.bin`` from micropython.org is a merged image, written at the
chip's bootloader offset (0x1000 on the ESP32, 0 on the S3 and C3): the
second-stage bootloader (an ESP app image), the partition table at flash 0x8000
and the MicroPython app image at flash 0x10000, gaps filled with 0xFF.

An ESP app image: an 8-byte header (magic 0xE9, segment count, SPI flash mode,
flash size and frequency in one byte, entry point), a 16-byte extended header
(write-protect pin, pin drive strengths, chip ID, minimum and maximum chip
revision, and whether a SHA-256 digest follows), the segments (load address,
length, data), padding to 16 bytes whose last byte is the checksum (0xEF XOR
every segment byte), then the SHA-256 of everything before it.
"""

from __future__ import annotations

import hashlib
import struct

from cupctl.sim.espchips import Chip
from cupctl.sim.esprom import checksum

FLASH_MODES = {"qio": 0, "qout": 1, "dio": 2, "dout": 3}
PARTITION_TABLE = 0x8000
APP = 0x10000

# Where each chip's second-stage bootloader and the app load their segments (DRAM, IRAM; DROM, IROM).
_LOAD = {
    "esp32": ((0x3FFF0030, 0x40078000), (0x3F400020, 0x400D0020), 0x40080400),
    "esp32s3": ((0x3FCE3818, 0x403C9700), (0x3C000020, 0x42000020), 0x403C98D0),
    "esp32c3": ((0x3FCD5820, 0x403CC710), (0x3C000020, 0x42000020), 0x403CC71A),
}


def app_image(chip: Chip, segments: list[tuple[int, bytes]], entry: int, flash_mode: int = 2,
              flash_size_freq: int = 0x20, digest: bool = True) -> bytes:
    """One ESP app image. ``flash_size_freq``: size in the high nibble (0x20 = 4 MB), frequency low (0 = 40 MHz)."""
    image = struct.pack("<BBBBI", 0xE9, len(segments), flash_mode, flash_size_freq, entry)
    # wp pin (0xEE: none), drive strengths, chip ID, min_rev, min_rev_full 0, max_rev_full 0xFFFF (any), digest
    image += struct.pack("<BBBBHBHH4sB", 0xEE, 0, 0, 0, chip.image_chip_id, 0, 0, 0xFFFF, b"\0" * 4, int(digest))
    data = b""
    for address, body in segments:
        if len(body) % 4:
            raise ValueError("segment lengths are multiples of 4")
        image += struct.pack("<II", address, len(body)) + body
        data += body
    image += b"\0" * (15 - len(image) % 16) + bytes([checksum(data)])
    return image + (hashlib.sha256(image).digest() if digest else b"")


def partition_table(flash_size: int) -> bytes:
    """MicroPython's table: nvs, phy_init, the factory app, and the filesystem filling the rest."""
    entries = [(1, 2, 0x9000, 0x6000, b"nvs"), (1, 1, 0xF000, 0x1000, b"phy_init"),
               (0, 0, APP, 0x1F0000, b"factory"), (1, 0x81, 0x200000, flash_size - 0x200000, b"vfs")]
    table = b"".join(struct.pack("<HBBII16sI", 0x50AA, kind, subtype, offset, size, name, 0)
                     for kind, subtype, offset, size, name in entries)
    return table + b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(table).digest()


def micropython_image(chip: Chip, app_bytes: bytes, flash_mode: int = 2, flash_size_freq: int = 0x20) -> bytes:
    """A merged image as micropython.org ships it; ``app_bytes`` fills the app's flash-mapped segment."""
    (dram, iram), (drom, irom), entry = _LOAD[chip.name]
    loader_code = hashlib.sha256(chip.name.encode()).digest() * 512  # 16 KB standing in for the bootloader
    bootloader = app_image(chip, [(dram, loader_code[:0x1000]), (iram, loader_code[0x1000:])], entry,
                           flash_mode, flash_size_freq)
    body = app_bytes + b"\0" * (-len(app_bytes) % 4)
    half = len(body) // 8 * 4  # constants (DROM) and code (IROM), each a multiple of 4 bytes
    app = app_image(chip, [(drom, body[:half]), (irom, body[half:])], irom, flash_mode, flash_size_freq)
    base = chip.bootloader_offset
    merged = bytearray(b"\xff" * (APP - base + len(app)))
    merged[: len(bootloader)] = bootloader
    merged[PARTITION_TABLE - base : PARTITION_TABLE - base + 0xC00] = partition_table(chip.flash_size).ljust(
        0xC00, b"\xff")
    merged[APP - base :] = app
    return bytes(merged)
