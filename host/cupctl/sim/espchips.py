"""What the emulated bootloader knows about each chip: IDs, eFuse words, memory map, SPI registers.

The values are the ones esptool reads to tell the chips apart and describe them:
the magic word at 0x40001000 (ESP32), the chip ID in GET_SECURITY_INFO (S3, C3),
the eFuse words behind the MAC address, package and revision, and the UART clock
divider behind its crystal estimate. Any other address reads as 0, as an unfused
eFuse or a register at its reset value would. Addresses and bit positions follow
esptool's targets (esptool/targets/esp32*.py) and the chips' technical reference
manuals; the MAC addresses are made up within Espressif's OUIs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAGIC_REG = 0x40001000
SPI_USR_COMMAND_BIT = 1 << 18  # SPI_CMD_REG: start a user command; the hardware clears it when done


@dataclass(frozen=True)
class SpiRegs:
    """The SPI flash controller's user-command registers (offsets from ``base``)."""

    base: int
    usr: int
    usr1: int
    usr2: int
    mosi_dlen: int
    miso_dlen: int
    w0: int
    addr_msb: bool  # ESP32 takes the address left-aligned in SPI_ADDR_REG


@dataclass(frozen=True)
class Chip:
    name: str  # esptool's --chip name
    title: str  # as esptool prints it
    image_chip_id: int
    bootloader_offset: int
    flash_size: int
    security_info: bytes | None  # GET_SECURITY_INFO's 20 bytes; None: the ROM lacks the command
    rom_flash_begin_words: tuple[int, ...]  # FLASH_BEGIN lengths (in 32-bit words) its ROM takes
    ram: tuple[tuple[int, int], ...]  # where MEM_BEGIN may load: (start, end) of DRAM and IRAM
    spi: SpiRegs
    uart_clkdiv_reg: int
    rom_banner: bytes  # the first line its ROM prints after a reset
    boot_modes: tuple[bytes, bytes]  # how the ROM names the boot mode: download, flash
    registers: dict[int, int] = field(default_factory=dict)

    def boot_log(self, download: bool) -> bytes:
        """What the ROM prints coming out of reset; esptool looks for "boot:0x.." and "waiting for download"."""
        mode = self.boot_modes[0 if download else 1]
        return self.rom_banner + b"\r\nrst:0x1 (POWERON),boot:" + mode + b"\r\n" + (
            b"waiting for download\r\n" if download else b"")


def _security_info(chip_id: int) -> bytes:
    # flags (no secure boot, no secure download), flash_crypt_cnt 0, 7 key purposes, chip ID, API version
    return struct.pack("<IBBBBBBBBII", 0, 0, 0, 0, 0, 0, 0, 0, 0, chip_id, 0)


_S3_C3_SPI = SpiRegs(base=0x60002000, usr=0x18, usr1=0x1C, usr2=0x20, mosi_dlen=0x24, miso_dlen=0x28, w0=0x58,
                     addr_msb=False)

CHIPS: dict[str, Chip] = {
    "esp32": Chip(
        name="esp32", title="ESP32", image_chip_id=0, bootloader_offset=0x1000, flash_size=4 << 20,
        security_info=None, rom_flash_begin_words=(4,),
        ram=((0x3FFAE000, 0x40000000), (0x40070000, 0x400C0000)),
        spi=SpiRegs(base=0x3FF42000, usr=0x1C, usr1=0x20, usr2=0x24, mosi_dlen=0x28, miso_dlen=0x2C, w0=0x80,
                    addr_msb=True),
        uart_clkdiv_reg=0x3FF40014,
        rom_banner=b"ets Jun  8 2016 00:22:57\r\n",
        boot_modes=(b"0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))", b"0x13 (SPI_FAST_FLASH_BOOT)"),
        registers={
            MAGIC_REG: 0x00F01D83,
            0x3FF5A004: 0xC45E7210,  # eFuse BLK0 word 1: MAC 24:0a:c4:5e:72:10, low four bytes
            0x3FF5A008: 0x00D1240A,  # word 2: MAC CRC and high two bytes
            0x3FF5A00C: 0x00008200,  # word 3: package 1 (D0WD), revision bit 0
            0x3FF5A010: 0x00000064,  # word 4: 8 MHz clock calibration, for the ROM's crystal estimate
            0x3FF5A014: 0x00100000,  # word 5: revision bit 1; SPI pads from the defaults
            0x3FF6607C: 0x96042000,  # APB_CTL_DATE: bit 31 is revision bit 2, so v3.0 (ESP32-D0WD-V3)
            0x3FF5F06C: 1024 << 7,  # RTCCALICFG1: with the eFuse above, the ROM reckons a 40 MHz crystal
        },
    ),
    "esp32s3": Chip(
        name="esp32s3", title="ESP32-S3", image_chip_id=9, bootloader_offset=0x0, flash_size=8 << 20,
        security_info=_security_info(9), rom_flash_begin_words=(4, 5),
        ram=((0x3FC88000, 0x3FD00000), (0x40370000, 0x403E0000)),
        spi=_S3_C3_SPI, uart_clkdiv_reg=0x60000014,
        rom_banner=b"ESP-ROM:esp32s3-20210327", boot_modes=(b"0x0 (DOWNLOAD(USB/UART0))", b"0x8 (SPI_FAST_FLASH_BOOT)"),
        registers={
            MAGIC_REG: 0x00000009,
            0x60007044: 0xA1E04B2C,  # eFuse BLOCK1 word 0: MAC 7c:df:a1:e0:4b:2c, low four bytes
            0x60007048: 0x00007CDF,  # word 1: MAC high two bytes
            0x60007050: 0x01080000,  # word 3: package 0 (QFN56), minor revision 2, block version minor 1
            0x6000706C: 0x00000001,  # BLOCK2 word 4: block version major 1
        },
    ),
    "esp32c3": Chip(
        name="esp32c3", title="ESP32-C3", image_chip_id=5, bootloader_offset=0x0, flash_size=4 << 20,
        security_info=_security_info(5), rom_flash_begin_words=(4, 5),
        ram=((0x3FC80000, 0x3FCE0000), (0x4037C000, 0x403E0000)),
        spi=_S3_C3_SPI, uart_clkdiv_reg=0x60000014,
        rom_banner=b"ESP-ROM:esp32c3-api1-20210207", boot_modes=(b"0x5 (DOWNLOAD(USB/UART1))",
                                                                b"0xc (SPI_FAST_FLASH_BOOT)"),
        registers={
            MAGIC_REG: 0x1B31506F,
            0x60008844: 0x791A2B3C,  # eFuse BLOCK1 word 0: MAC 58:cf:79:1a:2b:3c, low four bytes
            0x60008848: 0x000058CF,  # word 1: MAC high two bytes
            0x60008850: 0x00100000,  # word 3: package 0 (QFN32), minor revision 4
        },
    ),
}

XTAL_HZ = 40_000_000  # the ROMs clock their UART from the 40 MHz crystal


def chip(name: str) -> Chip:
    try:
        return CHIPS[name]
    except KeyError:
        raise ValueError("no emulated bootloader for %r (choose from %s)" % (name, ", ".join(CHIPS)))
