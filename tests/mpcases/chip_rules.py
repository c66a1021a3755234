"""What the simulated machine refuses and how long a hung bus blocks, per chip, on the unix port.

Usage (cwd: a folder holding board.json): micropython chip_rules.py
Prints one JSON object: each probe's outcome ("ok" or the exception's text) and measured times.
"""

import json
import sys
import time

from cupctl.sim import machine
from cupctl.sim.scaled_time import ScaledTime

sys.modules["machine"] = machine
with open("board.json") as f:
    BOARD = json.load(f)
SCL, SDA, PUMP = BOARD["i2c"]["scl"], BOARD["i2c"]["sda"], BOARD["pump"]["pin"]


def outcome(probe):
    try:
        probe()
        return "ok"
    except (ValueError, OSError, RuntimeError, OverflowError) as e:
        return "%s: %s" % (type(e).__name__, e)


def pwm_duty(freq, u16):
    pwm = machine.PWM(machine.Pin(PUMP), freq=freq, duty_u16=u16)
    return pwm.permille


def timed_call(i2c):
    start = time.ticks_ms()
    result = outcome(lambda: i2c.readfrom_into(0x18, bytearray(4)))
    return [result, time.ticks_diff(time.ticks_ms(), start)]


P = machine.Pin
results = {
    "pins": [n for n in range(49) if outcome(lambda n=n: P(n)) == "ok"],
    "pin_missing": outcome(lambda: P(20)),
    "pin_input_only_out": outcome(lambda: P(35, P.OUT)),
    "pin_input_only_pull": outcome(lambda: P(35, P.IN, P.PULL_UP)),
    "pin_input_only_in": outcome(lambda: P(35, P.IN)),
    "i2c1": outcome(lambda: machine.I2C(1, scl=P(SCL), sda=P(SDA))),
    "pwm_too_fast": outcome(lambda: machine.PWM(P(PUMP), freq=50000000)),
    "full_duty_20khz": pwm_duty(20000, 65535),
    "full_duty_1khz": pwm_duty(1000, 65535),
}
# Timer callbacks: scheduled every period, run in sleep_ms and between bytecodes, never in a blocking C call.
runs = []
machine.Timer(0).init(mode=machine.Timer.PERIODIC, period=10, callback=lambda t: runs.append(time.ticks_ms()))
time.sleep_ms(100)
results["timer_runs_in_a_100ms_sleep"] = len(runs)
before = len(runs)
end = time.ticks_add(time.ticks_ms(), 100)
while time.ticks_diff(end, time.ticks_ms()) > 0:  # 100 ms of Python work, no call into machine
    pass
results["timer_runs_in_100ms_of_python"] = len(runs) - before
# WDT (ports/esp32/machine_wdt.c) and RTC memory (machine_rtc.c)
results["wdt_timeout_0"] = outcome(lambda: machine.WDT(timeout=0))
results["wdt_timeout_minus_1"] = outcome(lambda: machine.WDT(timeout=-1))
results["wdt_id_1"] = outcome(lambda: machine.WDT(id=1, timeout=1000))
results["rtc_2048_bytes"] = outcome(lambda: machine.RTC().memory(bytes(2048)))
results["rtc_2049_bytes"] = outcome(lambda: machine.RTC().memory(bytes(2049)))
results["rtc_kept_after_refusal"] = len(machine.RTC().memory())

# PWM (ports/esp32/machine_pwm.c)
pwm = machine.PWM(P(PUMP), freq=20000, duty_u16=0)
results["pwm_input_only"] = outcome(lambda: machine.PWM(P(34), freq=20000, duty_u16=0))
results["duty_u16_65536"] = outcome(lambda: pwm.duty_u16(65536))
results["duty_u16_minus_1"] = outcome(lambda: pwm.duty_u16(-1))
results["duty_1024"] = outcome(lambda: pwm.duty(1024))
results["duty_ns_past_the_period"] = outcome(lambda: pwm.duty_ns(50001))  # 20 kHz: a 50 us period
results["two_duties"] = outcome(lambda: machine.PWM(P(PUMP), freq=20000, duty=1, duty_u16=1))
pwm.duty_u16(1000)
results["duty_u16_read_back_at_20khz"] = pwm.duty_u16()
pwm.deinit()
bare = machine.PWM(P(PUMP))  # no freq, no duty
results["bare_pwm"] = [bare.freq(), bare.duty_u16(), bare.duty()]
bare.deinit()
results["after_deinit"] = [outcome(lambda: bare.duty_u16()), outcome(lambda: bare.duty_u16(0)),
                           outcome(lambda: bare.freq()), outcome(bare.deinit), bare.permille]
bare.init(freq=1000)
results["after_init_again"] = bare.duty_u16()
bare.deinit()

# The accelerated clock of soak runs (cupctl.sim.scaled_time): its ticks and their arithmetic wrap together.
clock = ScaledTime(1)
clock._start_ns -= ((1 << 30) - 20) * 1000000  # 20 ms before its ticks_ms wraps
first = clock.ticks_ms()
time.sleep_ms(40)
second = clock.ticks_ms()
results["scaled_ticks_across_the_wrap"] = [second < first, clock.ticks_diff(second, first),
                                           clock.ticks_diff(clock.ticks_add(first, 40), first)]
results["scaled_ticks_diff_add"] = [clock.ticks_diff(5, (1 << 30) - 5), clock.ticks_add((1 << 30) - 5, 10),
                                    outcome(lambda: clock.ticks_add(0, 1 << 29))]

# SoftI2C (extmod/machine_i2c.c) and hardware I2C (ports/esp32/machine_i2c.c) on a sick bus
bus = machine._world.link.world.bus  # no virtual board: the outside world is in this process
soft = machine.SoftI2C(scl=P(SCL), sda=P(SDA), timeout=1000)
hard = machine.I2C(0, scl=P(SCL), sda=P(SDA))
results["soft_writeto_ok"] = soft.writeto(0x18, b"\xaa\x00\x00")
bus.data_nack = True
acked = []
results["soft_writeto_data_nack"] = outcome(lambda: acked.append(soft.writeto(0x18, b"\xaa\x00\x00")))
results["soft_acked"] = acked[0] if acked else None
results["hard_writeto_data_nack"] = outcome(lambda: hard.writeto(0x18, b"\xaa\x00\x00"))
bus.data_nack = False
bus.sda_low = True
buf = bytearray(b"\xff\xff\xff\xff")
results["soft_sda_low"] = [soft.writeto(0x18, b"\xaa\x00\x00"), soft.writeto(0x55, b"\x01"),
                           outcome(lambda: soft.readfrom_into(0x18, buf)), list(buf), len(soft.scan())]
bus.sda_low = False
bus.nack = True
results["soft_address_nack"] = outcome(lambda: soft.writeto(0x18, b"\xaa"))
bus.nack = False

bus.hung = True
machine._world.link.world.advance()  # the plant catches up now, not inside the timed call
before = len(runs)
called = time.ticks_ms()
results["hw_i2c_hung"] = timed_call(machine.I2C(0, scl=P(SCL), sda=P(SDA)))
returned = time.ticks_ms()
for _ in range(100):  # a few bytecodes: one queued callback runs at each pending check
    pass
results["timer_runs_in_a_500ms_blocking_call"] = len([t for t in runs[before:] if time.ticks_diff(t, called) > 5
                                                      and time.ticks_diff(t, returned) < 0])
results["timer_runs_queued_by_a_500ms_blocking_call"] = len([t for t in runs[before:]
                                                            if time.ticks_diff(t, returned) >= 0])
machine.Timer(0).deinit()
results["soft_i2c_hung"] = timed_call(machine.SoftI2C(scl=P(SCL), sda=P(SDA), timeout=1000))
print(json.dumps(results))
