"""boot.py and main.py leave the cup vented, on the unix port with the simulated machine.

Usage (cwd: a folder holding the firmware and board.json):
  micropython safe_exit.py interrupt|crash
Runs boot.py, checks the safe state, then main.py (commands on stdin) until an injected Ctrl-C
(KeyboardInterrupt) or crash inside the I2C driver mid-session, and prints the
pin states as JSON.
"""

import json
import sys

from cupctl.sim import machine

sys.modules["machine"] = machine
sys.path[:0] = ["", "lib"]  # the flash folder, then its /lib, as on the board
MODE = sys.argv[1]
world = machine._world.link.world  # no virtual board: the outside world is in this process


def snapshot():
    pump, valve, energised, normally_open, _, _ = world.wiring
    pwm = world.pwm_permille.get(pump)
    return {
        "pump_pwm_u16": machine._world.pwms[pump].duty_u16() if pwm is not None else None,
        "pump_level": world.levels.get(pump),
        "valve_vented": (world.levels.get(valve, 1 - energised) == energised) != normally_open,
    }


exec(open("boot.py").read(), {"__name__": "__main__"})
after_boot = snapshot()

calls = [0]
original = machine.SoftI2C.readfrom_into  # the driver the firmware uses


def failing_read(self, address, buf, stop=True):
    calls[0] += 1
    if calls[0] == 1500:  # 15 s in: mid-session, pump running
        world.peak = snapshot()
        raise KeyboardInterrupt() if MODE == "interrupt" else RuntimeError("injected crash")
    original(self, address, buf, stop)


machine.SoftI2C.readfrom_into = failing_read
exec(open("main.py").read(), {"__name__": "__main__"})
print(json.dumps({"after_boot": after_boot, "mid_session": world.peak, "after_main": snapshot()}))
