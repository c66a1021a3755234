"""The simulated machine refuses what the ESP32 port refuses and blocks as long (docs/fidelity.md)."""

import json
import os
import subprocess
import time

import pytest

from cupctl import mpunix
from tests.conftest import ROOT

BOARDS = {"esp32": "esp32-devkitc", "esp32c3": "esp32-c3-devkitm-1", "esp32s3": "esp32-s3-devkitc-1"}
# The GPIOs machine.Pin knows on the v1.24.1 images the README has users flash (ports/esp32/machine_pin.h,
# MICROPY_HW_ENABLE_GPIOn), written out here apart from host/cupctl/sim/chips.py: ESP32_GENERIC has GPIO20 and
# no 24, 28-31; ESP32_GENERIC_C3 (USB-Serial/JTAG) lacks 14-17 and 18/19; ESP32_GENERIC_S3 (SPIRAM) lacks 22-32.
PINS = {
    "esp32": set(range(0, 24)) | {25, 26, 27} | set(range(32, 40)),
    "esp32c3": set(range(0, 14)) | {20, 21},
    "esp32s3": set(range(0, 22)) | set(range(33, 49)),
}


@pytest.fixture(scope="module", params=sorted(BOARDS))
def probes(request, tmp_path_factory, micropython):
    flash = tmp_path_factory.mktemp(request.param)
    (flash / "board.json").write_text((ROOT / "boards" / (BOARDS[request.param] + ".json")).read_text())
    proc = subprocess.run([micropython, str(ROOT / "tests" / "mpcases" / "chip_rules.py")], cwd=flash, env=mpunix.env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return request.param, json.loads(proc.stdout.strip().splitlines()[-1])


def test_pins_that_do_not_exist_or_cannot_drive_are_refused(probes):
    chip, got = probes
    assert set(got["pins"]) == PINS[chip], "Pin(n) accepted for: %s" % got["pins"]
    assert got["pin_missing"] == "ok"  # GPIO20: on all three (the ESP32's table has it; the C3's UART0 RX)
    if chip == "esp32":
        assert got["pin_input_only_out"].startswith("ValueError")
        assert got["pin_input_only_pull"].startswith("ValueError")  # 34-39 have no pull resistors
        assert got["pin_input_only_in"] == "ok"
    elif chip == "esp32c3":
        assert got["pin_input_only_out"].startswith("ValueError")  # GPIO35 does not exist on the C3
    else:
        assert got["pin_input_only_out"] == "ok"  # GPIO35 drives on the S3 (quad SPIRAM leaves it free)
    assert got["i2c1"].startswith("ValueError") if chip == "esp32c3" else got["i2c1"] == "ok"  # one controller


def firmware_pins_the_chip_lacks(boardcfg):
    """(chip, role, GPIO) that the board file loader accepts but the chip's MicroPython image refuses:
    a pin it does not know, or an output on an input-only pin."""
    from cupctl.sim import chips

    wrong = []
    for chip in boardcfg.CHIPS:
        for key in boardcfg._OUTPUTS + boardcfg._INPUTS:
            for pin in range(64):
                try:
                    boardcfg._pin(chip, key, pin)
                except boardcfg.BoardError:
                    continue
                if pin not in chips.GPIOS[chip] or (key in boardcfg._OUTPUTS and pin in chips.INPUT_ONLY[chip]):
                    wrong.append((chip, key, pin))
    return wrong


def test_the_board_file_loader_accepts_no_pin_the_chip_lacks():
    """firmware/boardcfg.py keeps its own pin table; every pin it lets a board file use must exist on the
    chip's v1.24.1 image (host/cupctl/sim/chips.py), or a board that validates would fail at Pin(n)."""
    from cupctl.sim import chips
    from cupfw import boardcfg

    assert set(boardcfg.CHIPS) == set(chips.GPIOS)
    assert firmware_pins_the_chip_lacks(boardcfg) == []


def test_the_comparison_catches_a_firmware_table_that_allows_a_missing_pin(monkeypatch):
    """Without its flash/PSRAM reservation, the loader would let an S3 board use GPIO26-32, which the SPIRAM
    image has no Pin for: the comparison above must say so."""
    from cupfw import boardcfg

    monkeypatch.setitem(boardcfg._RESERVED, "esp32s3", ())
    wrong = {pin for chip, _, pin in firmware_pins_the_chip_lacks(boardcfg) if chip == "esp32s3"}
    assert wrong == set(range(26, 33))


def test_pwm_resolution_at_the_frequency(probes):
    _, got = probes
    assert got["pwm_too_fast"].startswith("ValueError")
    assert got["full_duty_20khz"] == 999  # 11 bits at 20 kHz: 65535 gives 2047/2048, never fully on
    assert got["full_duty_1khz"] == 999  # 14 or 16 bits: still one step short of 1000


def test_pwm_refuses_what_the_ledc_driver_refuses(probes):
    """ports/esp32/machine_pwm.c: configure_channel() raises ValueError("PWM not supported on Pin(34)") for
    GPIO34-39 (no output driver); set_duty_u16/u10/ns() refuse values outside their ranges;
    mp_machine_pwm_init_helper() refuses two duties at once; pwm_is_active() raises RuntimeError after deinit."""
    chip, got = probes
    if chip == "esp32":
        assert got["pwm_input_only"].startswith("ValueError: PWM not supported on Pin(34)")
    for key in ("duty_u16_65536", "duty_u16_minus_1", "duty_1024", "duty_ns_past_the_period", "two_duties"):
        assert got[key].startswith("ValueError"), key
    duty_get, duty_set, freq_get, deinit_again, plant_duty = got["after_deinit"]
    assert duty_get == duty_set == freq_get == "RuntimeError: PWM inactive"
    assert deinit_again == "ok" and plant_duty == 0


def test_a_pwm_made_without_a_duty_runs_at_half_at_5khz(probes):
    """mp_machine_pwm_init_helper(): no freq gives PWM_FREQ (5 kHz), no duty set_duty_u10(512), read back
    as duty_u16 32768; init() after deinit() starts at 50 % again."""
    _, got = probes
    assert got["bare_pwm"] == [5000, 32768, 512]
    assert got["after_init_again"] == 32768


def test_duty_u16_reads_back_the_hardware_duty(probes):
    """get_duty_u16(): the LEDC duty shifted back to 16 bits, so at 20 kHz (11 bits) 1000 reads 992."""
    _, got = probes
    assert got["duty_u16_read_back_at_20khz"] == 992


def test_a_hung_bus_blocks_hardware_i2c_but_not_soft_i2c(probes):
    chip, got = probes
    result, hw_ms = got["hw_i2c_hung"]
    assert result.startswith("OSError") and "116" in result
    assert hw_ms >= 500  # 100 ms * (1 + 4 bytes), as i2c_master_cmd_begin waits on v1.22-v1.24
    result, soft_ms = got["soft_i2c_hung"]
    assert result.startswith("OSError") and soft_ms < hw_ms


def test_soft_i2c_counts_acks_and_a_stuck_sda_reads_zeros(probes):
    """extmod/machine_i2c.c mp_machine_soft_i2c_transfer(): writeto returns the data bytes ACKed; a NACK on a
    data byte ends the write with no exception, a NACK on the address raises ENODEV; with SDA held low every
    bit reads 0, so every byte is ACKed and every read is 0x00. Hardware I2C (ports/esp32/machine_i2c.c)
    raises ENODEV for any NACK (ESP_FAIL)."""
    _, got = probes
    assert got["soft_writeto_ok"] == 3
    assert got["soft_writeto_data_nack"] == "ok" and got["soft_acked"] == 0
    assert got["hard_writeto_data_nack"] == "OSError: [Errno 19] ENODEV"
    assert got["soft_sda_low"] == [3, 1, "ok", [0, 0, 0, 0], 0x78 - 0x08]
    assert got["soft_address_nack"] == "OSError: [Errno 19] ENODEV"


def test_timer_callbacks_run_in_sleeps_and_between_bytecodes_but_not_in_a_blocking_call(probes):
    """ports/esp32/machine_timer.c machine_timer_isr() schedules the callback every period; it runs at the
    VM's pending checks and in mp_hal_delay_ms() (mphalport.c), at most MICROPY_SCHEDULER_DEPTH (8) queued,
    none inside a blocking C call (a hung hardware I2C transfer)."""
    _, got = probes
    assert got["timer_runs_in_a_100ms_sleep"] >= 5
    assert got["timer_runs_in_100ms_of_python"] >= 5
    assert got["timer_runs_in_a_500ms_blocking_call"] == 0
    assert got["timer_runs_queued_by_a_500ms_blocking_call"] in (8, 9)  # the queue's 8, a new period at most


def test_deadman_cuts_the_pump_while_the_loop_hangs_on_the_virtual_board(tmp_path, micropython):
    """A 300 ms hang of the Python loop mid-session (below the 1 s watchdog): only the dead-man timer's
    callbacks, run while the loop sleeps in the hang, can cut the pump, and the next tick latches loop_overrun."""
    from cupctl import boards
    from cupctl.link import Link
    from cupctl.sim.vboard import VirtualBoard, populate_flash
    from tests.test_vboard import is_event, wait_for

    populate_flash(tmp_path, boards.load(boards.DEFAULT)[0])
    stall = {"kind": "loop_stall", "at_ms": 1500, "duration_ms": 300, "after_start": True}
    with VirtualBoard(tmp_path, {"faults": [stall]}) as vb:
        with Link(vb.port) as link:
            wait_for(link, is_event("state,idle"))
            link.command("start static target=20 minutes=1")
            records = wait_for(link, is_event("loop_overrun"), timeout=10)
        assert "wdt" not in vb.resets
    assert any(r.kind == "T" and r.values[7] == 2 for r in records)  # it hung while a session ran


def test_the_watchdog_refuses_a_timeout_it_cannot_keep(probes):
    """ports/esp32/machine_wdt.c mp_machine_wdt_make_new_instance(): ValueError for id != 0 and for
    timeout_ms <= 0 ("WDT timeout too short")."""
    _, got = probes
    assert got["wdt_timeout_0"] == got["wdt_timeout_minus_1"] == "ValueError: WDT timeout too short"
    assert got["wdt_id_1"].startswith("ValueError")


def test_a_zero_watchdog_timeout_is_armed_on_the_virtual_board(tmp_path):
    """Whatever arms it, the virtual board's watchdog is never 'off' for a timeout of 0: it expires at once."""
    from cupctl.sim.vboard import VirtualBoard

    vb = VirtualBoard(tmp_path)  # not started: no firmware arms or feeds it meanwhile
    try:
        assert not vb._watchdog_expired()
        os.write(vb._control_keep, b"A0\n")
        vb._on_control()
        time.sleep(0.01)
        assert vb._wdt_timeout == 0 and vb._watchdog_expired()
    finally:
        vb.stop()


def test_rtc_memory_refuses_more_than_2048_bytes(probes):
    """ports/esp32/machine_rtc.c machine_rtc_memory(): ValueError("buffer too long") above
    MICROPY_HW_RTC_USER_MEM_MAX (2048); the refused write leaves the memory as it was."""
    _, got = probes
    assert got["rtc_2049_bytes"] == "ValueError: buffer too long"
    assert got["rtc_2048_bytes"] == "ok" and got["rtc_kept_after_refusal"] == 2048


def test_scaled_time_wraps_its_ticks_diff_with_its_ticks(probes):
    """The accelerated clock wraps ticks_ms at 2**30 as the ESP32 does; its ticks_diff/ticks_add must use the
    same period (extmod/modtime.c), not the 64-bit unix port's 2**62, or every interval across the wrap
    goes negative."""
    _, got = probes
    wrapped, elapsed, added = got["scaled_ticks_across_the_wrap"]
    assert wrapped and 35 <= elapsed < 1000 and added == 40
    assert got["scaled_ticks_diff_add"] == [10, 5, "OverflowError: ticks interval overflow"]


def test_a_board_file_for_another_chip_is_refused_on_the_virtual_board(tmp_path, micropython):
    """The virtual board's sys.implementation._machine reads as the chip's image has it (py/mpconfig.h
    MICROPY_BANNER_MACHINE), so the firmware's chip check runs: an ESP32-S3 board file on an ESP32 never
    builds its pins (they may be the other chip's flash pins); the pump never runs and the cup stays vented."""
    from cupctl import boards
    from cupctl.link import Link
    from cupctl.sim.vboard import VirtualBoard, populate_flash
    from tests.test_vboard import is_event, wait_for

    populate_flash(tmp_path / "s3", boards.load("esp32-s3-devkitc-1")[0])
    with VirtualBoard(tmp_path / "s3", chip="esp32") as vb:
        with Link(vb.port) as link:
            records = wait_for(link, is_event(",board_config,"))
        assert "written for esp32s3, but this chip is esp32; cup vented, pump disabled" in records[-1].text
        time.sleep(0.5)
        assert vb.true_vacuum_peak_pa() == 0 and vb.resets == ["power"]
    with VirtualBoard(tmp_path / "s3") as vb:  # the same flash on the chip it was written for
        assert vb.chip == "esp32s3"
        with Link(vb.port) as link:
            wait_for(link, is_event("state,idle"))


def test_the_virtual_board_reads_as_the_chip(tmp_path, micropython):
    """sys.implementation._machine and sys.platform as MicroPython v1.24.1's images give them."""
    from cupctl.sim import vboard

    (tmp_path / "main.py").write_text("import sys\nprint('IS', sys.platform, sys.implementation._machine)\n")
    for chip, machine in (("esp32", "Generic ESP32 module with ESP32"), ("esp32c3", "ESP32C3 module with ESP32C3"),
                          ("esp32s3", "Generic ESP32S3 module with ESP32S3")):
        env = dict(mpunix.env(), MICROPYPATH=str(mpunix.HOST_DIR), CUPCTL_VBOARD_CHIP=chip)
        proc = subprocess.run([micropython, str(vboard.SIM_DIR / "mp_board.py")], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=30)
        assert "IS esp32 %s" % machine in proc.stdout, proc.stdout + proc.stderr


def test_a_reset_leaves_the_cup_its_vacuum_on_the_virtual_board(tmp_path, micropython):
    """The cup is outside the chip: a reset mid-session restarts the firmware, not the plant. With a slow valve
    the cup still holds most of its vacuum when the new firmware boots (the pins float meanwhile: pump off,
    the normally-open valve unpowered, venting)."""
    from cupctl import boards
    from cupctl.link import Link
    from cupctl.sim.vboard import VirtualBoard, populate_flash
    from tests.test_vboard import is_event, wait_for

    populate_flash(tmp_path, boards.load(boards.DEFAULT)[0])
    with VirtualBoard(tmp_path, {"plant": {"cup_ul": 100000, "valve_ul_s_kpa": 300}}) as vb:
        with Link(vb.port) as link:
            wait_for(link, is_event("state,idle"))
            link.command("start static target=20 minutes=1")
            wait_for(link, lambda r: r.kind == "T" and r.values[4] >= 12000, timeout=20)
            vb.press_reset()
            wait_for(link, is_event(",boot,"))
        assert vb.resets == ["power", "hard"]
        assert vb.true_vacuum_peak_pa() >= 10000  # the vacuum the new boot found in the cup


def test_injected_faults_keep_their_clock_across_resets_on_the_virtual_board(tmp_path, micropython):
    """The fault-injection clock runs from power-on in the virtual board, not in the firmware process: an
    injected reset at 2 s happens once, not 2 s after every boot."""
    from cupctl import boards
    from cupctl.sim.vboard import VirtualBoard, populate_flash

    populate_flash(tmp_path, boards.load(boards.DEFAULT)[0])
    with VirtualBoard(tmp_path, {"faults": [{"kind": "reset", "at_ms": 2000}]}) as vb:
        time.sleep(6)
        assert vb.resets == ["power", "hard"]


def test_pins_across_resets_as_the_esp32_leaves_them():
    """ports/esp32/main.c soft_reset_exit: machine_pwm_deinit_all() stops every PWM, machine_pins_deinit()
    leaves the GPIOs driven; any other reset floats every pin (pump off, valve coil unpowered)."""
    from cupctl.sim.boardworld import BoardWorld

    now = [0]
    world = BoardWorld({}, lambda: now[0], board_file=str(ROOT / "boards" / "esp32-devkitc.json"))
    pump, valve = 25, 26
    world.output(valve, 1)  # energised: the normally-open valve holds
    world.pwm(pump, 500)
    now[0] = 100
    world.advance()
    assert world.plant.duty == 500 and not world.plant.valve_open
    world.boot("soft")
    now[0] = 200
    world.advance()
    assert world.plant.duty == 0 and not world.plant.valve_open  # the valve still holds
    world.boot("hard")
    now[0] = 300
    world.advance()
    assert world.plant.duty == 0 and world.plant.valve_open  # floating: the coil is off, the cup vents


def test_a_soft_reset_leaves_the_watchdog_armed(tmp_path, micropython):
    """On the ESP32 a soft reset (Ctrl-D) does not stop the task watchdog; only a hard reset does."""
    from cupctl import boards
    from cupctl.link import Link
    from cupctl.sim.vboard import VirtualBoard, populate_flash
    from tests.test_vboard import is_event, wait_for

    populate_flash(tmp_path, boards.load(boards.DEFAULT)[0])
    with VirtualBoard(tmp_path) as vb:
        with Link(vb.port) as link:
            wait_for(link, is_event("state,idle"))
        armed = vb._wdt_timeout
        vb._boot("soft")
        assert armed and vb._wdt_timeout == armed
        vb._boot("hard")
        assert vb._wdt_timeout is None
