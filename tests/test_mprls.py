"""Our MPRLS driver against adafruit_mprls (the oracle) on a fake bus."""

import random

import adafruit_mprls
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cupfw import mprls


class FakeBus:
    """An MPRLS on I2C: answers both machine.I2C and busio-style calls.

    ``busy_reads`` status reads report busy before the conversion completes.
    """

    def __init__(self, status=0x40, counts=0, busy_reads=0, fail=False):
        self.status = status
        self.counts = counts
        self.busy_reads = busy_reads
        self.fail = fail
        self.writes = []

    # busio locking, used by adafruit_bus_device
    def try_lock(self):
        return True

    def unlock(self):
        pass

    def writeto(self, address, buf, *args, **kwargs):
        if self.fail:
            raise OSError(19)
        self.writes.append(bytes(buf))

    def readfrom_into(self, address, buf, *args, start=0, end=None, **kwargs):
        if self.fail:
            raise OSError(19)
        status = self.status
        if self.busy_reads:
            self.busy_reads -= 1
            status |= 0x20
        else:
            status &= ~0x20
        data = bytes([status, self.counts >> 16 & 255, self.counts >> 8 & 255, self.counts & 255])
        end = len(buf) if end is None else end
        for i in range(start, end):
            buf[i] = data[i - start]


@pytest.fixture(autouse=True)
def no_sleep(mocker):
    mocker.patch("time.sleep")
    mocker.patch("time.sleep_ms", create=True)


def oracle(bus):
    return adafruit_mprls.MPRLS(bus, psi_min=0, psi_max=25)


def test_pressure_matches_oracle_on_random_counts():
    rng = random.Random(1234)
    bus = FakeBus()
    ours, theirs = mprls.MPRLS(bus), oracle(bus)
    worst = 0
    for counts in [mprls.COUNTS_MIN, mprls.COUNTS_MAX, 0, 0xFFFFFF] + [
            rng.randrange(0, 1 << 24) for _ in range(10000)]:
        bus.counts = counts
        pa = ours.read_pa()
        assert isinstance(pa, int)
        worst = max(worst, abs(pa - theirs.pressure * 100))
    assert worst <= 1.0


@pytest.mark.parametrize("status", range(0, 0x80))
def test_status_bits_accept_reject_like_oracle(status):
    bus = FakeBus(status=status, counts=0x7FFFFF, busy_reads=1 if status & 0x20 else 0)
    try:
        assert oracle(bus).pressure > 0
        oracle_ok = True
    except RuntimeError:
        oracle_ok = False
    bus.busy_reads = 1 if status & 0x20 else 0
    try:
        mprls.MPRLS(bus).read_pa()
        ours_ok = True
    except mprls.SensorError:
        ours_ok = False
    if oracle_ok:  # we may be stricter: an unpowered sensor is refused too
        assert ours_ok == bool(status & 0x40)
    else:
        assert not ours_ok


def test_busy_forever_times_out_without_hanging():
    bus = FakeBus(busy_reads=10**9)
    with pytest.raises(mprls.SensorError, match="timeout"):
        mprls.MPRLS(bus).read_pa(timeout_ms=5)


def test_bus_error_becomes_sensor_error():
    with pytest.raises(mprls.SensorError, match="I2C bus error") as info:
        mprls.MPRLS(FakeBus(fail=True)).read_pa()
    assert info.value.code == mprls.ERR_BUS


def test_nonblocking_pair_sends_command_and_reports_codes():
    bus = FakeBus(counts=0x123456, busy_reads=1)
    sensor = mprls.MPRLS(bus)
    assert sensor.start() == 0
    assert bus.writes == [b"\xaa\x00\x00"]
    assert sensor.collect() == mprls.ERR_BUSY
    assert sensor.collect() == 0x123456
    bus.status = 0x44
    assert sensor.collect() == mprls.ERR_INTEGRITY
    bus.status = 0x41
    assert sensor.collect() == mprls.ERR_SATURATION
    bus.status = 0x00
    assert sensor.collect() == mprls.ERR_POWER


def test_rejects_bad_range():
    with pytest.raises(ValueError):
        mprls.MPRLS(FakeBus(), psi_min=25, psi_max=25)


class SoftI2CBus(FakeBus):
    """machine.SoftI2C: a NACK on a data byte is no exception; writeto returns how many bytes were acked."""

    def __init__(self, acked, **kwargs):
        super().__init__(**kwargs)
        self.acked = acked

    def writeto(self, address, buf, *args, **kwargs):
        super().writeto(address, buf)
        return min(self.acked, len(buf))


@pytest.mark.parametrize("acked", [0, 1, 2])
def test_a_measure_command_cut_short_is_a_bus_error(acked):
    """The sensor never started a conversion: the next collect would return the last one as new."""
    bus = SoftI2CBus(acked, counts=0x123456)
    sensor = mprls.MPRLS(bus)
    assert sensor.start() == mprls.ERR_BUS
    with pytest.raises(mprls.SensorError, match="I2C bus error"):
        sensor.read_pa()


@pytest.mark.parametrize("bus", [SoftI2CBus(3, counts=0x800000), FakeBus(counts=0x800000)],
                         ids=["softi2c-all-acked", "returns-none"])
def test_a_whole_command_starts_a_conversion(bus):
    assert mprls.MPRLS(bus).start() == 0


def _rounded(a, b, c):
    """round(a * b / c), halves away from zero, with Python's wide ints."""
    quotient, remainder = divmod(abs(a) * b, c)
    quotient += 2 * remainder >= c
    return -quotient if a < 0 else quotient


@given(a=st.integers(-(2**24) + 1, 2**24 - 1), b=st.integers(0, 2**25 - 1), c=st.integers(1, 2**24))
def test_muldiv_round_is_the_exact_rounded_quotient_over_its_whole_contract(a, b, c):
    assert mprls.muldiv_round(a, b, c) == _rounded(a, b, c)


@pytest.mark.parametrize("a,b,c", [(1, 1, 2), (-1, 1, 2), (3, 1, 2), (1, 1, 3), (2, 1, 3), (2**24 - 1, 2**25 - 1, 1),
                                   (-(2**24) + 1, 2**25 - 1, 2**24), (0, 2**25 - 1, 7), (5, 0, 3), (7, 31, 32),
                                   (1, 2**20, 3), (1, 2**21 - 1, 2)])
def test_muldiv_round_at_its_edges(a, b, c):
    """Halves, the bit groups of b (five at a time, from bit 20), and the ends of each range."""
    assert mprls.muldiv_round(a, b, c) == _rounded(a, b, c)
