"""The unmodified esptool and ``cupctl flash`` against the emulated ESP bootloader on a pseudo-terminal.

Each test starts an emulated chip (cupctl.sim.esprom behind cupctl.sim.romport) and
checks what lands in its flash byte for byte, which commands esptool had to use to
get it there, and what the chip refused. docs/esprom.md lists the commands.
"""

from __future__ import annotations

import errno
import hashlib
import random
import signal
import struct
import subprocess
import sys
from pathlib import Path

import esptool
import pytest
import serial
from esptool import cmds
from esptool.loader import ESPLoader
from esptool.util import FatalError

from cupctl import cli, flashing
from cupctl.sim import slip
from cupctl.sim.espchips import MAGIC_REG, chip
from cupctl.sim.espflash import NorFlash
from cupctl.sim.espimage import micropython_image
from cupctl.sim.esprom import EspRom
from cupctl.sim.romnet import Rfc2217Bootloader
from cupctl.sim.romport import BootloaderPort

CHIPS = ("esp32", "esp32s3", "esp32c3")
FILESYSTEM = 0x200000  # MicroPython's vfs partition, where a maker's files live


@pytest.fixture
def board():
    """``board(chip_name)``: a started emulated chip in download mode; ``rom=`` reconnects an existing one."""
    started = []

    def make(name: str, rom: EspRom | None = None) -> BootloaderPort:
        port = BootloaderPort(rom or EspRom(chip(name))).start()
        started.append(port)
        return port

    yield make
    for port in started:
        port.stop()


def app_bytes(size: int, seed: int = 1) -> bytes:
    """Half random, half zeros: compresses to about 55%, so the stub gets several 16 KB blocks."""
    rng = random.Random(seed)
    return b"".join(rng.randbytes(32) + bytes(32) for _ in range(size // 64))


@pytest.fixture
def firmware(tmp_path):
    def make(name: str, size: int = 96 * 1024, **header) -> Path:
        path = tmp_path / ("%s-%d.bin" % (name, size))
        path.write_bytes(micropython_image(chip(name), app_bytes(size), **header))
        return path

    return make


def flashed(port: BootloaderPort, image: Path) -> bytes:
    """What the flash holds where ``image`` belongs."""
    return port.rom.flash.read(port.rom.chip.bootloader_offset, image.stat().st_size)


def connect(port: BootloaderPort, stub: bool = False):
    esp = cmds.detect_chip(port.port, connect_attempts=3)
    if stub:
        esp = esp.run_stub()
    cmds.attach_flash(esp)
    return esp


def expected_refusals(port: BootloaderPort) -> set[str]:
    """The ESP32's ROM has no GET_SECURITY_INFO: esptool asks, is refused, and reads the magic word instead."""
    return {"GET_SECURITY_INFO"} if port.rom.chip.name == "esp32" else set()


# --- the real esptool, three chips, ROM and stub, compressed or not ---

MODES = {  # esptool options before and after write-flash; commands that must and must not be used
    "stub-compressed": ([], [], {"MEM_END", "FLASH_DEFL_DATA", "FLASH_DEFL_END"}, {"FLASH_DATA"}),
    "stub-uncompressed": ([], ["--no-compress"], {"MEM_END", "FLASH_DATA", "FLASH_END"}, {"FLASH_DEFL_DATA"}),
    "rom-uncompressed": (["--no-stub"], [], {"SPI_ATTACH", "FLASH_DATA"}, {"MEM_BEGIN", "FLASH_DEFL_DATA"}),
    "rom-compressed": (["--no-stub"], ["--compress"], {"SPI_ATTACH", "FLASH_DEFL_DATA"}, {"MEM_BEGIN", "FLASH_DATA"}),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", CHIPS)
def test_esptool_writes_the_image_byte_for_byte_at_the_chip_offset(board, firmware, name, mode):
    before, after, used, unused = MODES[mode]
    port, image = board(name), firmware(name)
    offset = chip(name).bootloader_offset
    esptool.main(["--port", port.port, *before, "write-flash", *after, hex(offset), str(image)])
    data, flash = image.read_bytes(), port.rom.flash
    assert flashed(port, image) == data
    assert flash.read(0, offset) == b"\xff" * offset  # nothing before the offset (0x1000 on the ESP32)
    end = offset + len(data)
    assert flash.read(end, 0x1000 - end % 0x1000) == b"\xff" * (0x1000 - end % 0x1000)
    assert flash.read(offset + 2, 2) == data[2:4]  # esptool keeps the header's mode, size and frequency
    assert "SPI_FLASH_MD5" in port.rom.log  # esptool checked the MD5 the chip computed over its flash
    assert used <= set(port.rom.log) and not unused & set(port.rom.log)
    assert {command for command, _, _ in port.rom.refusals} == expected_refusals(port)


@pytest.mark.parametrize("name", CHIPS)
def test_esptool_sets_the_header_flash_parameters_it_is_asked_for(board, firmware, name):
    port, image = board(name), firmware(name)
    offset = chip(name).bootloader_offset
    esptool.main(["--port", port.port, "write-flash", "--flash-mode", "dout", "--flash-freq", "80m",
                  "--flash-size", "4MB", hex(offset), str(image)])
    data = bytearray(image.read_bytes())
    assert data[2:4] == bytes([2, 0x20])  # built as DIO, 4 MB at 40 MHz
    data[2:4] = bytes([3, 0x2F])  # DOUT; 4 MB (0x20) at 80 MHz (0xF)
    digest_at = _bootloader_length(data)  # the bootloader's SHA-256 covers its header: esptool redoes it
    data[digest_at : digest_at + 32] = hashlib.sha256(data[:digest_at]).digest()
    assert flashed(port, image) == bytes(data)


def _bootloader_length(image: bytes) -> int:
    """Where the first app image's appended SHA-256 starts: after its segments, padding and checksum."""
    position = 24
    for _ in range(image[1]):
        position += 8 + struct.unpack_from("<I", image, position + 4)[0]
    return position + 16 - position % 16


@pytest.mark.parametrize("stub", [True, False], ids=["stub", "rom"])
def test_esptool_reads_back_what_the_flash_holds(board, tmp_path, stub):
    port = board("esp32c3")
    pattern = random.Random(7).randbytes(0x2100)
    port.rom.flash.program(0x3000, pattern)
    out = tmp_path / "read.bin"
    esptool.main(["--port", port.port, *([] if stub else ["--no-stub"]), "read-flash", "0x3000", "0x2100", str(out)])
    assert out.read_bytes() == pattern
    assert ("READ_FLASH" if stub else "READ_FLASH_SLOW") in port.rom.log


DESCRIPTIONS = {
    "esp32": ("ESP32", "ESP32-D0WD-V3 (revision v3.0)", "24:0a:c4:5e:72:10", "4MB"),
    "esp32s3": ("ESP32-S3", "ESP32-S3 (QFN56) (revision v0.2)", "7c:df:a1:e0:4b:2c", "8MB"),
    "esp32c3": ("ESP32-C3", "ESP32-C3 (QFN32) (revision v0.4)", "58:cf:79:1a:2b:3c", "4MB"),
}


@pytest.mark.parametrize("name", CHIPS)
def test_esptool_detects_and_describes_each_chip(board, name):
    port = board(name)
    esp = connect(port)
    try:
        title, description, mac, flash_size = DESCRIPTIONS[name]
        assert esp.CHIP_NAME == title and esp.get_chip_description() == description
        assert ":".join("%02x" % b for b in esp.read_mac()) == mac
        assert esp.get_crystal_freq() == 40  # the ESP32's from the ROM's UART divider, the others' fixed
        assert cmds.detect_flash_size(esp) == flash_size  # JEDEC ID over the SPI controller's user registers
        if name != "esp32":
            assert esp.get_security_info()["chip_id"] == chip(name).image_chip_id
    finally:
        esp._port.close()


# --- cupctl flash end to end ---

@pytest.mark.parametrize("name", CHIPS)
def test_cupctl_flash_writes_and_verifies_the_image(board, firmware, name, capsys):
    port, image = board(name), firmware(name)
    assert cli.main(["flash", "--port", port.port, str(image)]) == 0
    out = capsys.readouterr().out
    assert flashed(port, image) == image.read_bytes()
    offset = chip(name).bootloader_offset
    assert port.rom.flash.read(offset + 2, 2) == image.read_bytes()[2:4]  # cupctl asks esptool to keep them
    assert {"MEM_END", "FLASH_DEFL_DATA", "SPI_FLASH_MD5"} <= set(port.rom.log)
    assert port.rom.stub is not None and port.rom.stub.version == "2"  # esp-flasher-stub, esptool's default
    assert port.rom.uart_baud == 460800 and port.garbled == 0  # the host followed the chip to 460800 baud
    assert "Hash of data verified" in out
    assert out.rstrip().splitlines()[-1].startswith("flashed %s; next: press the board's RESET button" % image)


@pytest.mark.parametrize("board_chip,image_chip", [("esp32s3", "esp32"), ("esp32c3", "esp32s3"),
                                                   ("esp32", "esp32c3")])
def test_cupctl_flash_refuses_an_image_for_another_chip_before_writing(board, firmware, board_chip, image_chip,
                                                                       capsys):
    port, image = board(board_chip), firmware(image_chip)
    assert cli.main(["flash", "--port", port.port, str(image)]) == 1
    err = capsys.readouterr().err
    assert err == "cupctl flash: error: the board on %s is an %s but %s is built for %s: refusing to flash\n" % (
        port.port, chip(board_chip).title, image, image_chip)
    assert "SYNC" in port.rom.log  # it was the detected chip that refused it
    assert not {"MEM_BEGIN", "FLASH_BEGIN", "FLASH_DEFL_BEGIN", "ERASE_FLASH"} & set(port.rom.log)
    assert port.rom.flash.erased_sectors == 0 and port.rom.flash.data.count(0xFF) == port.rom.flash.size


def test_a_pulled_cable_is_one_line_and_running_cupctl_flash_again_completes(board, firmware, capsys):
    port, image = board("esp32"), firmware("esp32")
    port.pull_cable("FLASH_DEFL_DATA", 2)
    assert cli.main(["flash", "--port", port.port, str(image)]) == 1
    err = capsys.readouterr().err
    assert port.cable_pulled.is_set()
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err == ("cupctl flash: error: lost the board on %s while writing: the port went away; its flash is "
                   "incomplete and it will not boot from it; reconnect the board and run cupctl flash again\n"
                   % port.port)
    assert port.rom.log.count("FLASH_DEFL_DATA") == 1 and flashed(port, image) != image.read_bytes()

    replugged = board("esp32", rom=port.rom)  # the same chip and flash, on a new port
    replugged.reset()  # powered up again, into the bootloader
    assert cli.main(["flash", "--port", replugged.port, str(image)]) == 0
    assert flashed(replugged, image) == image.read_bytes()


@pytest.mark.parametrize("erase", [False, True], ids=["keep-files", "erase"])
def test_cupctl_flash_erase_clears_the_filesystem(board, firmware, erase):
    port, image = board("esp32s3"), firmware("esp32s3")
    files = b"littlefs: boot.py main.py board.json"
    port.rom.flash.program(FILESYSTEM, files)
    assert cli.main(["flash", "--port", port.port, *(["--erase"] if erase else []), str(image)]) == 0
    assert flashed(port, image) == image.read_bytes()
    assert port.rom.flash.read(FILESYSTEM, len(files)) == (b"\xff" * len(files) if erase else files)
    assert ("ERASE_FLASH" in port.rom.log) == erase


def test_cli_serves_a_bootloader_whose_flash_persists_in_a_folder(firmware, tmp_path, capsys):
    image, folder = firmware("esp32c3"), tmp_path / "flash"
    serve = subprocess.Popen([sys.executable, "-m", "cupctl.cli", "sim", "--serve", "--bootloader", "esp32c3",
                              "--flash", str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        first = serve.stdout.readline()
        assert first.startswith("port: /dev/pts/")
        assert cli.main(["flash", "--port", first.split()[1], str(image)]) == 0
    finally:
        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=15) == 0
    assert "bootloader stopped after" in serve.stdout.read()
    saved = (folder / "esp32c3.bin").read_bytes()
    assert len(saved) == 4 << 20 and saved[: image.stat().st_size] == image.read_bytes()


@pytest.mark.parametrize("argv,message", [
    (["sim", "--bootloader", "esp32"], "--bootloader goes with --serve"),
    (["sim", "--serve", "--bootloader", "esp32", "--link", "usb"], "no --scenario, --board or --link"),
])
def test_bootloader_option_misuse_is_one_line(argv, message, capsys):
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("cupctl sim: error: ") and message in err and err.count("\n") == 1


# --- what the chip refuses ---

RESULTS = {  # esptool's wording of the ROM's error byte and of the stub's code
    "checksum": {"rom": "Checksum error", "stub": "Bad data checksum"},
    "range": {"rom": "the running result is wrong", "stub": "Failed SPI operation"},
    "state": {"rom": "the running result is wrong", "stub": "Not in flash mode"},
}


@pytest.mark.parametrize("loader", ["rom", "stub"])
def test_a_block_with_a_bad_checksum_is_refused_and_the_same_block_then_accepted(board, loader):
    port = board("esp32s3")
    esp = connect(port, stub=loader == "stub")
    try:
        esp.flash_begin(0x1000, 0x10000)
        block = random.Random(3).randbytes(esp.FLASH_WRITE_SIZE if loader == "rom" else 0x1000)
        packet = struct.pack("<IIII", len(block), 0, 0, 0) + block
        with pytest.raises(FatalError, match=RESULTS["checksum"][loader]):
            esp.check_command("write", esp.ESP_CMDS["FLASH_DATA"], packet, esp.checksum(block) ^ 0x5A)
        assert port.rom.refusals[-1][:2] == ("FLASH_DATA", "checksum")
        assert port.rom.flash.read(0x10000, 0x1000) == b"\xff" * 0x1000
        esp.flash_block(block, 0)
        if loader == "stub":
            esp.flash_finish()  # the stub writes behind its acks: the end waits for the last block
        assert port.rom.flash.read(0x10000, len(block)) == block
    finally:
        esp._port.close()


@pytest.mark.parametrize("loader", ["rom", "stub"])
def test_a_write_past_the_end_of_the_flash_is_refused(board, loader):
    port = board("esp32c3")
    esp = connect(port, stub=loader == "stub")
    try:
        end = port.rom.flash.size
        with pytest.raises(FatalError, match=RESULTS["range"][loader]):
            esp.flash_begin(0x2000, end - 0x1000)
        assert port.rom.refusals[-1][:2] == ("FLASH_BEGIN", "range")
        assert port.rom.flash.erased_sectors == 0
        esp.flash_begin(0x1000, end - 0x1000)  # the last sector itself is fine
        assert port.rom.flash.erased_sectors == (1 if loader == "rom" else 0)  # the stub erases as it writes
    finally:
        esp._port.close()


@pytest.mark.parametrize("loader", ["rom", "stub"])
def test_data_before_flash_begin_is_refused(board, loader):
    port = board("esp32")
    esp = connect(port, stub=loader == "stub")
    try:
        with pytest.raises(FatalError, match=RESULTS["state"][loader]):
            esp.flash_block(b"\0" * esp.FLASH_WRITE_SIZE, 0)
        assert port.rom.refusals[-1][:2] == ("FLASH_DATA", "state")
        assert port.rom.flash.data.count(0xFF) == port.rom.flash.size
    finally:
        esp._port.close()


def test_esptool_refuses_an_image_that_does_not_fit_the_detected_flash(board, tmp_path):
    port = board("esp32c3")
    image = tmp_path / "big.bin"
    image.write_bytes(app_bytes(0x3000))
    with pytest.raises(FatalError, match="will not fit in 4194304 bytes of flash"):
        esptool.main(["--port", port.port, "write-flash", hex(port.rom.flash.size - 0x2000), str(image)])
    assert not {"FLASH_BEGIN", "FLASH_DEFL_BEGIN"} & set(port.rom.log)


def test_a_host_that_does_not_follow_a_baud_change_gets_no_answer(board):
    port = board("esp32c3")
    esp = connect(port, stub=True)
    try:
        esp.change_baud(921600)
        assert esp.read_reg(0x60008844) == 0x791A2B3C  # both ends at 921600
        esp._port.baudrate = 115200  # the host goes back without telling the chip
        with pytest.raises(FatalError, match="Serial data stream stopped"):  # nothing comes back
            esp.read_reg(0x60008844, timeout=0.3)
        assert port.garbled > 0
    finally:
        esp._port.close()


def test_ram_code_other_than_esptools_stub_runs_and_says_nothing(board):
    port = board("esp32c3")
    esp = connect(port)
    try:
        code = random.Random(5).randbytes(0x400)
        esp.mem_begin(len(code), 1, len(code), 0x40380000)
        esp.mem_block(code, 0)
        esp.mem_finish(0x40380000)
        assert port.rom.mode == "app"
        with pytest.raises(FatalError):
            esp.read_reg(MAGIC_REG, timeout=0.3)
    finally:
        esp._port.close()


# --- the pty and the reset ---

def test_a_pty_has_no_dtr_rts_so_each_new_connection_finds_the_rom_loader(board):
    port = board("esp32s3")
    with serial.Serial(port.port) as host:
        with pytest.raises(OSError) as e:  # what esptool's reset sequence meets: it warns and goes on
            host.dtr = False
        assert e.value.errno == errno.ENOTTY
        assert not flashing._has_modem_lines(host)
    esp = connect(port, stub=True)
    esp._port.close()
    assert port.rom.mode == "stub"
    assert port.wait_closed()
    again = cmds.detect_chip(port.port, connect_attempts=3)
    try:
        assert not again.sync_stub_detected  # the ROM answered SYNC: the stub was gone
        assert port.rom.mode == "rom" and port.rom.resets == 2
    finally:
        again._port.close()


# --- the reset sequence, over RFC 2217 where DTR and RTS exist ---

# pyserial's RFC 2217 client starts its reader thread with calls Python 3.10 deprecated
RFC2217_WARNINGS = pytest.mark.filterwarnings("ignore::DeprecationWarning:serial.rfc2217")


@pytest.fixture
def rfc2217_board():
    """An ESP32 behind esptool's RFC 2217 server and an auto-reset circuit, running its app; and a host
    port opened with DTR released (RTS asserted: esp_rfc2217_server ignores that), so opening resets nothing."""
    board = Rfc2217Bootloader(EspRom(chip("esp32"))).start()
    host = serial.serial_for_url(board.port, do_not_open=True)
    host.dtr, host.rts = False, True
    host.open()
    yield board, ESPLoader(host)
    host.close()
    board.stop()


@RFC2217_WARNINGS
def test_without_the_reset_sequence_the_running_app_does_not_answer(rfc2217_board):
    board, loader = rfc2217_board
    with pytest.raises(FatalError, match="Failed to connect"):
        loader.connect("no-reset", attempts=1, detecting=True, warnings=False)
    assert board.boots == [] and board.rom.mode == "app" and board.rom.log == []


@RFC2217_WARNINGS
def test_esptools_reset_sequence_puts_the_chip_in_download_mode_and_its_hard_reset_boots_the_flash(rfc2217_board):
    board, loader = rfc2217_board
    loader.connect("default-reset", attempts=1, detecting=True)  # DTR/RTS, then SYNC
    assert board.boots == ["download"] and board.rom.mode == "rom" and "SYNC" in board.rom.log
    loader.hard_reset()  # RTS pulsed with DTR released: GPIO0 high when EN rises
    for _ in range(100):
        if len(board.boots) > 1:
            break
        loader._port.read(1)  # the ROM's boot log, while the reset goes through
    assert board.boots == ["download", "flash"] and board.rom.mode == "app"
    assert loader._port.read(loader._port.in_waiting or 1).endswith(b"boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n")
    assert flashing._has_modem_lines(loader._port)  # so cupctl flash would not ask for the RESET button


# --- building blocks ---

def test_slip_round_trips_every_byte_and_skips_noise():
    packets = [bytes(range(256)), b"\xc0\xdb\xdb\xdc\xdd\xc0", b"x"]
    stream = b"boot noise" + b"".join(slip.encode(p) for p in packets) + b"\xc0\xdb\x01\xc0" + slip.encode(b"y")
    decoder = slip.Decoder()
    received = [p for i in range(0, len(stream), 5) for p in decoder.feed(stream[i : i + 5])]
    assert received == packets + [b"y"]
    assert decoder.noise == len(b"boot noise") and decoder.dropped == 1  # the broken escape \xdb\x01


def test_nor_flash_programs_only_erased_bytes():
    flash = NorFlash(4 << 20)
    assert flash.program(0x1000, b"\x0f\xf0")
    assert not flash.program(0x1000, b"\xf0\xf0")  # bits only clear: 0x0f & 0xf0 reads back 0x00
    assert flash.read(0x1000, 2) == b"\x00\xf0"
    flash.erase(0x1001, 1)  # the whole sector
    assert flash.read(0x1000, 0x1000) == b"\xff" * 0x1000
