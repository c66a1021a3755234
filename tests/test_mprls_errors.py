"""MPRLS edges the oracle comparison misses: bus errors on each half of a conversion, status codes and
their order, the bounded wait, and the transfer function to the exact Pa."""

import random
from fractions import Fraction
from unittest import mock

import pytest

from cupctl.sim.plant import Plant, SimMPRLSBus
from cupctl.sim.runner import Simulation
from cupfw import faults, mprls
from cupfw.controller import RUNNING


class Bus:
    """machine.I2C's two calls; either can NACK (OSError, as machine.I2C raises)."""

    def __init__(self, fail_write=False, fail_read=False, status=0x40):
        self.fail_write = fail_write
        self.fail_read = fail_read
        self.status = status
        self.reads = 0

    def writeto(self, address, buf):
        if self.fail_write:
            raise OSError(19)

    def readfrom_into(self, address, buf):
        self.reads += 1
        if self.fail_read:
            raise OSError(19)
        buf[:] = bytes([self.status, 0x80, 0, 0])  # 0x800000 counts


def test_error_codes_are_the_documented_ones():
    # docs/protocol.md: a trace's raw_counts holds these, so old traces replay only if they never change.
    assert (mprls.ERR_BUSY, mprls.ERR_POWER, mprls.ERR_INTEGRITY, mprls.ERR_SATURATION, mprls.ERR_BUS,
            mprls.ERR_TIMEOUT) == (-1, -2, -3, -4, -5, -6)


@pytest.mark.parametrize("status,code", [
    (0x40, 0x800000),
    (0x60, mprls.ERR_BUSY),  # busy first: the data is not ready, whatever else it says
    (0x65, mprls.ERR_BUSY),
    (0x00, mprls.ERR_POWER),  # then power: an unpowered sensor's other bits mean nothing
    (0x01, mprls.ERR_POWER),
    (0x05, mprls.ERR_POWER),
    (0x44, mprls.ERR_INTEGRITY),
    (0x45, mprls.ERR_INTEGRITY),  # integrity before saturation
    (0x41, mprls.ERR_SATURATION),
    (0x42, 0x800000),  # bits without a meaning are ignored
])
def test_status_decoding_and_its_order(status, code):
    assert mprls.MPRLS(Bus(status=status)).collect() == code


@pytest.mark.parametrize("status,reason", [
    (0x00, "not powered"), (0x44, "memory integrity failure"), (0x41, "math saturation")])
def test_sensor_error_names_its_cause(status, reason):
    with pytest.raises(mprls.SensorError, match="^MPRLS: %s$" % reason):
        mprls.MPRLS(Bus(status=status)).read_pa()


def test_blocking_read_waits_twenty_one_ms_steps_then_times_out():
    bus = Bus(status=0x60)
    with mock.patch("time.sleep_ms", create=True) as sleep_ms:
        with pytest.raises(mprls.SensorError, match="conversion timeout") as info:
            mprls.MPRLS(bus).read_pa()
    assert info.value.code == mprls.ERR_TIMEOUT
    assert bus.reads == 20 and sleep_ms.call_args_list == [mock.call(1)] * 20


@pytest.fixture(autouse=True)
def no_sleep(mocker):
    mocker.patch("time.sleep_ms", create=True)


def test_collect_reports_a_read_nack_as_a_bus_error():
    bus = Bus()
    sensor = mprls.MPRLS(bus)
    assert sensor.start() == 0
    assert sensor.collect() == 0x800000  # a good read first fills the buffer with valid data
    bus.fail_read = True
    assert sensor.collect() == mprls.ERR_BUS  # never the stale buffer


def test_start_reports_a_write_nack_and_collect_still_reads():
    bus = Bus(fail_write=True)
    sensor = mprls.MPRLS(bus)
    assert sensor.start() == mprls.ERR_BUS
    assert bus.reads == 0
    bus.fail_write = False
    assert sensor.start() == 0


def test_blocking_read_raises_on_a_read_nack():
    with pytest.raises(mprls.SensorError, match="I2C bus error") as info:
        mprls.MPRLS(Bus(fail_read=True)).read_pa()
    assert info.value.code == mprls.ERR_BUS


def test_simulated_bus_nacks_the_read_only():
    now = [0]
    bus = SimMPRLSBus(Plant(), lambda: now[0])
    sensor = mprls.MPRLS(bus)
    bus.nack_read = True
    assert sensor.start() == 0  # the command still goes out
    now[0] = 10  # the conversion is done
    assert sensor.collect() == mprls.ERR_BUS
    bus.nack_read = False
    assert sensor.collect() >= mprls.COUNTS_MIN


def test_read_nack_mid_session_trips_sensor_bus_and_vents(board):
    sim = Simulation({"program": "start static target=30 minutes=1"}, board)
    for _ in range(1000):  # bounded: a broken controller must fail here, not hang
        if sim.ctl.state == RUNNING:
            break
        sim.step()
    assert sim.ctl.state == RUNNING
    for _ in range(50):
        sim.step()
    sim.hw.bus.nack_read = True
    began = sim.t
    while sim.ctl.fault == faults.NONE and sim.t - began < 1000:
        row = sim.step()
    assert sim.ctl.fault == faults.SENSOR_BUS
    assert sim.ctl.sensor_code == mprls.ERR_BUS
    assert board.sensor_timeout_ms < sim.t - began <= board.sensor_timeout_ms + 3 * sim.ctl.period_ms
    t, duty, vented = row[0], row[4], row[5]
    assert (duty, vented) == (0, 1), "pump off and cup vented on the tripping tick (t=%d)" % t


@pytest.mark.parametrize("psi_min,psi_max,low_pa,high_pa", [
    (0, 25, 0, 172369),  # 25 psi = 172,368.93 Pa
    (10, 30, 68948, 206843),  # 10 psi = 68,947.57 Pa; 30 psi = 206,842.72 Pa
])
def test_transfer_function_ends_read_the_range_ends(psi_min, psi_max, low_pa, high_pa):
    sensor = mprls.MPRLS(Bus(), psi_min=psi_min, psi_max=psi_max)
    assert sensor.counts_to_pa(mprls.COUNTS_MIN) == low_pa
    assert sensor.counts_to_pa(mprls.COUNTS_MAX) == high_pa


def test_transfer_function_ends_are_the_datasheet_10_and_90_percent_of_2_24():
    assert mprls.COUNTS_MIN == round(Fraction(1, 10) * 2**24) == 0x19999A
    assert mprls.COUNTS_MAX == round(Fraction(9, 10) * 2**24) == 0xE66666


def test_pressure_is_the_exact_transfer_function_to_the_nearest_pa():
    # The driver's own rounding (to deci-Pa, then to Pa) stays within 0.09 Pa of the exact value, so
    # wherever the exact value is not within 0.1 Pa of a half it must round to the nearest Pa.
    pa_per_psi = Fraction(6894757293168, 10**9)
    sensor = mprls.MPRLS(Bus())
    rng = random.Random(7)
    checked = 0
    for counts in (rng.randrange(mprls.COUNTS_MIN, mprls.COUNTS_MAX) for _ in range(5000)):
        exact = Fraction(counts - 0x19999A, 0xE66666 - 0x19999A) * 25 * pa_per_psi
        if abs(exact - int(exact) - Fraction(1, 2)) > Fraction(1, 10):
            assert sensor.counts_to_pa(counts) == round(exact), counts
            checked += 1
    assert checked > 3000
