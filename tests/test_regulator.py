"""The PI regulator: exact integer terms, anti-windup at both ends of the output, valve bleed, reset."""

from types import SimpleNamespace

from regulator import Regulator

PERIOD_MS = 10


def make(kp=0, ki=0, ff=0, band=400):
    """A regulator with hand-picked gains, so each case's arithmetic is easy to check by hand.

    With ``ki=100`` and a 10 ms period each tick adds exactly ``error`` milli-duty to the integral.
    """
    board = SimpleNamespace(regulator_kp=kp, regulator_ki=ki, regulator_ff=ff, regulator_bleed_band_pa=band)
    return Regulator(board, PERIOD_MS)


def test_a_new_regulator_holds_the_valve():
    assert make().bleed is False


def test_proportional_and_feed_forward_terms_in_duty_per_kpa():
    reg = make(kp=300, ff=3)
    assert reg.update(20000, 19000, 1000) == 3 * 20 + 300 * 1  # ff * 20 kPa + kp * 1 kPa
    assert not reg.bleed


def settled(reg, target, cap=1000):
    """The first tick at a target: the integral waits for a steady target."""
    reg.update(target, target, cap)
    return reg


def test_integral_accumulates_in_milli_duty_and_starts_at_zero():
    reg = settled(make(ki=100), 1000)
    assert reg.update(1000, 1, 1000) == 0  # 999 milli-duty: not yet one duty step
    assert reg.update(1000, 999, 1000) == 1  # 1000 milli-duty
    assert reg.update(1000, 1000, 1000) == 1  # no error: the integral holds


def test_integral_stands_still_while_the_target_moves():
    """A ramp is followed by feed-forward and P; an integral wound up on it overshoots at its end."""
    reg = make(ki=100)
    for target in range(1000, 20000, 1000):
        assert reg.update(target, 0, 1000) == 0
    assert reg.update(19000, 0, 1000) == 19  # steady: 19000 milli-duty in one tick


def test_reset_forgets_the_last_session():
    reg = make(ki=100)
    for _ in range(5):
        reg.update(20000, 0, 1000)  # the first sets the target, four integrate
    assert reg.update(0, 0, 1000) == 80
    assert reg.bleed  # target 0: vent
    reg.reset()
    assert not reg.bleed
    assert reg.update(1000, 1, 1000) == 0  # as from new: a new target, nothing integrated
    assert [reg.update(1000, 1, 1000), reg.update(1000, 999, 1000)] == [0, 1]


def test_output_clamped_between_zero_and_the_cap():
    assert make(kp=1000).update(5000, 0, 700) == 700
    assert make(kp=1000, ff=1000).update(100, 5000, 700) == 0


def test_no_wind_up_while_the_output_sits_exactly_at_the_cap():
    reg = make(kp=1000, ki=100000)
    assert reg.update(5, 0, 5) == 5  # proportional term alone reaches the cap: integral untouched
    assert reg.update(0, 0, 5) == 0
    reg = make(kp=1000, ki=100000)
    assert reg.update(1, 0, 1) == 1  # the smallest positive error at the cap
    assert reg.update(0, 0, 1) == 0


def test_integrates_just_below_the_cap():
    reg = settled(make(kp=1000, ki=100000), 4, 5)
    assert reg.update(4, 0, 5) == 5  # 4 + 4 integral, capped
    assert reg.update(4, 4, 5) == 4


def test_no_wind_down_while_the_output_sits_exactly_at_zero():
    reg = settled(make(kp=1000, ki=100000, ff=1000), 5, 100)
    assert reg.update(5, 10, 100) == 0  # feed-forward 5 - proportional 5 = 0: integral untouched
    assert reg.update(5, 0, 100) == 15  # 5 + 5 + integral 5
    reg = settled(make(kp=1000, ki=100000, ff=1000), 6, 100)
    assert reg.update(6, 11, 100) == 0  # output 1 before integrating: it winds down, to 1 - 5
    assert reg.update(6, 6, 100) == 1  # feed-forward 6 plus the wound-down integral -5


def test_a_positive_integral_unwinds_even_with_the_output_at_zero():
    reg = settled(make(kp=1000, ki=100000), 10, 100)
    assert reg.update(10, 0, 100) == 20  # integral +10
    assert reg.update(10, 30, 100) == 0  # -20 + 10: at zero, but the integral may come down
    assert reg.update(10, 10, 100) == 0  # 10 - 20: unwound to -10, not stuck at +10


def test_integral_floor_and_ceiling():
    reg = settled(make(ki=100, ff=1000), 20000, 30000)
    for _ in range(150):  # each tick -10 duty; output stays positive thanks to the feed-forward
        reg.update(20000, 30000, 30000)
    assert reg.update(20000, 30000, 30000) == 20000 - 1000
    # The integral is pinned at -1000 duty: one more tick of +0.999 duty leaves it just below -999.
    assert reg.update(20000, 19001, 30000) == 20000 - 1000
    reg = settled(make(ki=100), 2000000)
    assert reg.update(2000000, 0, 1000) == 1000  # integral capped at the cap (1000 duty)
    assert reg.update(2000000, 2001000, 1000) == 999


def test_bleed_only_when_the_pump_is_off_and_the_vacuum_is_beyond_the_band():
    reg = make(band=400)
    assert reg.update(0, 0, 1000) == 0 and reg.bleed  # target 0 always vents
    assert reg.update(1, 1, 1000) == 0 and not reg.bleed  # any target above 0 holds
    assert reg.update(1000, 1400, 1000) == 0 and not reg.bleed  # exactly at the band: hold
    assert reg.update(1000, 1401, 1000) == 0 and reg.bleed  # one Pa beyond: vent
    assert reg.update(1000, 1000, 1000) == 0 and not reg.bleed  # and back within: hold again
    pumping = make(ff=1000, band=400)
    assert pumping.update(1000, 1401, 1000) > 0 and not pumping.bleed  # never vent against the pump


def test_anti_windup_judges_the_output_in_whole_duty_steps():
    reg = settled(make(ki=100), 6000, 5)
    assert reg.update(6000, 1001, 5) == 4  # integral 4.999 duty: output 4, below the cap of 5
    assert reg.update(6000, 5999, 5) == 5  # so it still integrates, to 5.000
    assert reg.update(6000, 6000, 1000) == 5  # which the next tick shows
    reg = settled(make(ki=100), 6000)
    assert reg.update(6000, 996, 1000) == 5  # integral 5.004 duty
    assert reg.update(6000, 5999, 5) == 5  # output 5 at a cap of 5: the integral stays 5.004
    assert reg.update(6000, 6004, 1000) == 5  # 5.004 - 0.004 = 5.000, still 5
