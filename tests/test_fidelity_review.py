"""Where the simulated ``machine`` is kinder than MicroPython v1.24.1's ports/esp32 (fidelity review).

Each test states what the chip does, with the MicroPython source that says so, and fails while the
simulation accepts, returns or skips something the chip would not. None of them changes the sim.
"""

import json
import os
import subprocess

import pytest

from cupctl import mpunix
from tests.conftest import ROOT

BOARDS = {"esp32": "esp32-devkitc", "esp32c3": "esp32-c3-devkitm-1", "esp32s3": "esp32-s3-devkitc-1"}

PROBE = r"""
import json, sys, time
from cupctl.sim import machine
from cupctl.sim.scaled_time import ScaledTime

P = machine.Pin


def outcome(probe):
    try:
        probe()
        return "ok"
    except Exception as e:
        return "%s: %s" % (type(e).__name__, e)


with open("board.json") as f:
    BOARD = json.load(f)
PUMP, SCL, SDA = BOARD["pump"]["pin"], BOARD["i2c"]["scl"], BOARD["i2c"]["sda"]
r = {}
r["pins"] = {str(i): outcome(lambda i=i: P(i)) for i in range(49)}
if BOARD["chip"] == "esp32":
    r["pwm_input_only"] = outcome(lambda: machine.PWM(P(34), freq=20000, duty_u16=0))
pwm = machine.PWM(P(PUMP), freq=20000, duty_u16=0)
r["duty_u16_65536"] = outcome(lambda: pwm.duty_u16(65536))
r["duty_u16_minus_1"] = outcome(lambda: pwm.duty_u16(-1))
bare = machine.PWM(P(PUMP))  # no duty given
r["bare_pwm_duty_u16"] = bare.duty_u16()
r["wdt_timeout_0"] = outcome(lambda: machine.WDT(timeout=0))
r["wdt_id_1"] = outcome(lambda: machine.WDT(id=1, timeout=1000))
r["rtc_3000_bytes"] = outcome(lambda: machine.RTC().memory(bytes(3000)))

runs = [0]


def count(_t):
    runs[0] += 1


machine.Timer(0).init(mode=machine.Timer.PERIODIC, period=10, callback=count)
time.sleep_ms(100)
r["timer_runs_in_a_100ms_sleep"] = runs[0]
i2c = machine.SoftI2C(scl=P(SCL), sda=P(SDA), freq=400000, timeout=1000)
before = runs[0]
end = time.ticks_add(time.ticks_ms(), 100)
while time.ticks_diff(end, time.ticks_ms()) > 0:  # 100 ms of Python work, then one bus call
    pass
i2c.readfrom_into(0x18, bytearray(4))
r["timer_runs_in_100ms_of_python"] = runs[0] - before

clock = ScaledTime(1)
r["scaled_ticks_diff_across_wrap"] = clock.ticks_diff(5, (1 << 30) - 5)
r["scaled_ticks_add_across_wrap"] = clock.ticks_add((1 << 30) - 5, 10)
print(json.dumps(r))
"""


@pytest.fixture(scope="module", params=sorted(BOARDS))
def probed(request, tmp_path_factory, micropython):
    flash = tmp_path_factory.mktemp(request.param)
    (flash / "board.json").write_text((ROOT / "boards" / (BOARDS[request.param] + ".json")).read_text())
    (flash / "probe.py").write_text(PROBE)
    env = dict(mpunix.env(), MICROPYPATH=os.pathsep.join([str(ROOT / "host"), str(ROOT / "firmware")]))
    env.pop("CUPCTL_VBOARD_CONTROL", None)
    proc = subprocess.run([micropython, "probe.py"], cwd=flash, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return request.param, json.loads(proc.stdout.strip().splitlines()[-1])


# GPIOs the v1.24.1 firmware images cupctl flashes have (ports/esp32/machine_pin.h, MICROPY_HW_ENABLE_GPIOn):
# ESP32_GENERIC_C3 enables the USB-Serial/JTAG, so GPIO18/19 are left out, and GPIO14-17 (SPI flash) never
# exist; ESP32_GENERIC_S3 builds with SPIRAM (boards/sdkconfig.spiram_sx), so GPIO26 is left out, and
# GPIO27-32 (flash/PSRAM) never exist. machine_pin_find() raises ValueError("invalid pin") for the rest.
MISSING = {"esp32": (), "esp32c3": (14, 15, 16, 17, 18, 19), "esp32s3": (26, 27, 28, 29, 30, 31, 32)}


def test_gpios_the_port_leaves_out_are_refused(probed):
    chip, got = probed
    if not MISSING[chip]:
        pytest.skip("the ESP32 image has a Pin for every GPIO the sim knows")
    accepted = [int(pin) for pin in MISSING[chip] if got["pins"][str(pin)] == "ok"]
    assert accepted == [], "%s: the sim accepts Pin(n) for GPIOs the v1.24.1 image has no Pin for" % chip
