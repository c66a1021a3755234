"""``cupctl flash``: check a MicroPython image, then write it with esptool's API.

The image is checked before the port is touched: the ESP image magic byte and
the chip ID in its extended header, against --chip and then the detected chip.
The offset is the chip's bootloader offset (0x1000 on ESP32, 0 on S3/C3), as
MicroPython's combined images expect. After the chip check, esptool uploads its
flasher stub, moves to 460800 baud (esptool's own default for writing), and
writes the image compressed, leaving the image header's flash mode, size and
frequency as they are ("keep"), then checks the flash's MD5.

Tested end to end against an emulated bootloader (cupctl.sim.esprom, docs/esprom.md).
"""

from __future__ import annotations

import contextlib
import errno
import io
import struct
from pathlib import Path

from esptool.loader import ESPLoader
from esptool.targets import CHIP_DEFS

SUPPORTED = ("esp32", "esp32s3", "esp32c3")
FLASH_BAUD = 460800  # the ROM syncs at 115200; the stub then writes at esptool's default rate
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


def flash(image: str | Path, port: str, chip: str | None = None, erase: bool = False, log=print) -> bool:
    """Validate, then erase (optionally) and write the image. Returns whether the board was reset into
    the new firmware: False on a port without DTR/RTS lines (a pseudo-terminal), where it waits for RESET."""
    from esptool import cmds  # imported late: it is slow, and --help must not wait for it
    from esptool.util import FatalError

    built_for = image_chip(image)
    if chip and chip != built_for:
        raise FlashError("%s is built for %s, not %s: refusing to flash" % (image, built_for, chip))
    esp = _connect(port, log)
    stage = "starting the flasher stub"
    try:
        detected = esp.CHIP_NAME.lower().replace("-", "")
        if detected != built_for:
            raise FlashError("the board on %s is an %s but %s is built for %s: refusing to flash" % (
                port, esp.CHIP_NAME, image, built_for))
        esp = esp.run_stub()
        esp.WRITE_FLASH_ATTEMPTS = 1  # esptool would wait ~7 s for a lost port, then start over: say so at once
        esp.change_baud(FLASH_BAUD)
        cmds.attach_flash(esp)
        if erase:
            stage = "erasing"
            log("erasing flash (this takes a while)...")
            cmds.erase_flash(esp)
        stage = "writing"
        log("writing %s to %s at 0x%x" % (image, esp.CHIP_NAME, offset(built_for)))
        cmds.write_flash(esp, [(offset(built_for), str(image))])
        stage = "resetting"
        cmds.reset_chip(esp, "hard-reset")
        return _has_modem_lines(esp._port)
    except OSError:  # pyserial's SerialException: the port went away (a pulled cable, a reset bridge)
        if stage == "resetting":
            return False
        # pyserial's own words here are about the port's settings (esptool restores a timeout on the way out)
        raise FlashError("lost the board on %s while %s: the port went away; %s; reconnect the board and run "
                         "cupctl flash again" % (port, stage, "its flash is incomplete and it will not boot from it"
                                                 if stage in ("erasing", "writing") else "nothing was written"))
    except FatalError as e:
        raise FlashError("esptool failed while %s: %s" % (stage, _first_line(e)))
    finally:
        esp._port.close()


def _has_modem_lines(port) -> bool:
    """Whether DTR/RTS exist on this port, so esptool's hard reset reached the chip. It reads the
    modem-line bits (TIOCMGET: no edge on any line); a pty has none. A port without a descriptor
    (rfc2217://, Windows) carries them its own way."""
    try:
        import fcntl
        import termios

        fd = port.fileno()
    except (AttributeError, ImportError, io.UnsupportedOperation):
        return True
    if not isinstance(fd, int):
        return True
    try:
        fcntl.ioctl(fd, termios.TIOCMGET, b"\0\0\0\0")
    except OSError as e:
        return e.errno != errno.ENOTTY
    return True


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0].rstrip(".")


def _connect(port: str, log):
    """esptool's loader for the chip on ``port``, or FlashError in one line (esptool's own advice is many)."""
    from esptool import cmds

    if "/" in port and "://" not in port and not Path(port).exists():  # COM3 or rfc2217://host:port are not paths
        raise FlashError("no serial port %s: is the board plugged in? (cupctl boards lists ports)" % port)
    log("connecting to the bootloader on %s..." % port)
    try:
        # esptool's "Connecting.....", its hints and its reset warnings: a failure gets one line below
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return cmds.detect_chip(port, connect_attempts=_CONNECT_ATTEMPTS)
    except Exception as e:  # esptool raises FatalError or serial errors
        raise FlashError("cannot talk to the bootloader on %s: %s; hold BOOT while pressing RESET, then retry" % (
            port, _first_line(e)))
