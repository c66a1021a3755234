"""The pump's dead-man switch: silent until the first tick arms it, then it cuts the pump after its budget."""

from cupfw.deadman import Deadman


class Pump:
    def __init__(self):
        self.duty = 700

    def set(self, duty):
        self.duty = duty


class Valve:
    def __init__(self):
        self.vented = False

    def vent(self):
        self.vented = True


def make(budget_ms=50, period_ms=10):
    pump, valve = Pump(), Valve()
    return Deadman(pump, valve, budget_ms, period_ms), pump, valve


def test_nothing_happens_before_the_first_tick_arms_it():
    switch, pump, valve = make()
    for _ in range(100):  # a slow boot: the timer runs, the loop has not started
        switch.expire()
    assert not switch.tripped and pump.duty == 700 and not valve.vented


def test_cuts_the_pump_and_vents_after_exactly_its_budget():
    switch, pump, valve = make(budget_ms=50, period_ms=10)
    switch.rearm()
    for _ in range(4):
        switch.expire()
    assert not switch.tripped and pump.duty == 700  # 40 ms without a tick: still within 50
    switch.expire()
    assert switch.tripped and pump.duty == 0 and valve.vented


def test_each_tick_restores_the_budget():
    switch, pump, _ = make(budget_ms=30, period_ms=10)
    for _ in range(50):
        switch.rearm()
        switch.expire()
        switch.expire()
    assert not switch.tripped and pump.duty == 700


def test_clear_after_the_fault_is_acknowledged():
    switch, _, _ = make(budget_ms=20, period_ms=10)
    switch.rearm()
    switch.expire()
    switch.expire()
    assert switch.tripped
    switch.clear()
    assert not switch.tripped
    switch.expire()
    assert not switch.tripped  # a full budget again
