"""``cupctl flash``: check a MicroPython image, then write it with esptool's API.

The image is checked before the port is touched: the ESP image magic byte and
the chip ID in its extended header, against --chip and then the detected chip.
The offset is the chip's bootloader offset (0x1000 on ESP32, 0 on S3/C3), as
MicroPython's combined images expect.
"""

from __future__ import annotations

import contextlib
import io
import struct
from pathlib import Path

from esptool.loader import ESPLoader
from esptool.targets import CHIP_DEFS

SUPPORTED = ("esp32", "esp32s3", "esp32c3")
_HEADER = 24  # common header (8) + extended header (16)
_CONNECT_ATTEMPTS = 3  # about a second each: a missing or silent board is reported within a few seconds


class FlashError(RuntimeError):
    pass


def image_chip(path: str | Path) -> str:
    """The chip an image is built for, or FlashError saying why it is not an image."""
    path = Path(path)
    try:
        header = path.read_bytes()[:_HEADER]
    except OSError as e:
        raise FlashError("cannot read %s: %s" % (path, e.strerror or e))
    if len(header) < _HEADER or header[0] != ESPLoader.ESP_IMAGE_MAGIC:
        raise FlashError("%s is not an ESP firmware image (no 0x%02X magic byte): download the .bin for "
                         "your board from micropython.org/download" % (path, ESPLoader.ESP_IMAGE_MAGIC))
    chip_id = struct.unpack_from("<H", header, 12)[0]
    for name in SUPPORTED:
        if CHIP_DEFS[name].IMAGE_CHIP_ID == chip_id:
            return name
    raise FlashError("%s is an image for chip ID %d, which cupctl does not support (%s)" % (
        path, chip_id, ", ".join(SUPPORTED)))


def offset(chip: str) -> int:
    return CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET


def flash(image: str | Path, port: str, chip: str | None = None, erase: bool = False, log=print) -> str:
    """Validate, then erase (optionally) and write the image; returns the chip name."""
    from esptool import cmds  # imported late: it is slow, and --help must not wait for it

    built_for = image_chip(image)
    if chip and chip != built_for:
        raise FlashError("%s is built for %s, not %s: refusing to flash" % (image, built_for, chip))
    esp = _connect(port, log)
    try:
        detected = esp.CHIP_NAME.lower().replace("-", "")
        if detected != built_for:
            raise FlashError("the board on %s is an %s but %s is built for %s: refusing to flash" % (
                port, esp.CHIP_NAME, image, built_for))
        esp = esp.run_stub()
        cmds.attach_flash(esp)
        if erase:
            log("erasing flash (this takes a while)...")
            cmds.erase_flash(esp)
        log("writing %s to %s at 0x%x" % (image, esp.CHIP_NAME, offset(built_for)))
        cmds.write_flash(esp, [(offset(built_for), str(image))])
        cmds.reset_chip(esp, "hard-reset")
    finally:
        esp._port.close()
    return built_for


def _connect(port: str, log):
    """esptool's loader for the chip on ``port``, or FlashError in one line (esptool's own advice is many)."""
    from esptool import cmds

    if "/" in port and not Path(port).exists():  # COM3 and the like are not paths
        raise FlashError("no serial port %s: is the board plugged in? (cupctl boards lists ports)" % port)
    log("connecting to the bootloader on %s..." % port)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # esptool's "Connecting....." and hints
            return cmds.detect_chip(port, connect_attempts=_CONNECT_ATTEMPTS)
    except Exception as e:  # esptool raises FatalError or serial errors
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0].rstrip(".")
        raise FlashError("cannot talk to the bootloader on %s: %s; hold BOOT while pressing RESET, then retry" % (
            port, first_line))
