"""The plant's physics against hand-computed cases."""

import pytest

from cupctl.sim.plant import COUNTS_MIN, Plant, SimMPRLSBus
from cupfw import mprls

QUIET = {"noise_pa": 0, "leak_ul_s_kpa": 0, "skin_um_kpa": 0}


def settle(plant, seconds, dt=10):
    for _ in range(seconds * 1000 // dt):
        plant.step(dt)


def test_sealed_cup_without_pump_holds_its_pressure():
    plant = Plant(**QUIET)
    plant.valve_open = False
    plant.pressure_mpa = 80_000_000
    settle(plant, 5)
    assert plant.pressure_mpa == 80_000_000


def test_pump_stops_at_its_maximum_vacuum():
    plant = Plant(**QUIET, pump_max_vacuum_pa=60000)
    plant.valve_open = False
    plant.duty = 1000
    settle(plant, 60)
    assert 59000 < plant.vacuum_pa <= 60000


def test_vent_time_constant_matches_hand_calculation():
    # tau = V / (P0 * G) for a rigid cup: 50 ml / (101.325 kPa * 2 ml/s/kPa) = 0.2467 s
    plant = Plant(**QUIET)
    plant.valve_open = True
    plant.pressure_mpa = plant.ambient_mpa - 30_000_000
    settle(plant, 1, dt=1)  # ~4 time constants (slightly more: the ratio P/P0 also shrinks)
    remaining = plant.vacuum_pa / 30000
    assert 0.005 < remaining < 0.03  # exp(-1/0.2467) = 0.017


def test_leak_equilibrium_duty_matches_hand_calculation():
    # Hold 30 kPa: pump flow P*Q = P0*G*v  ->  Q = 101.325 * 0.02 * 30 / 71.325 = 0.852 ml/s
    # Q = 20 ml/s * d * (1 - 30/75)  ->  d = 0.0710
    plant = Plant(noise_pa=0, skin_um_kpa=0)
    plant.valve_open = False
    plant.pressure_mpa = plant.ambient_mpa - 30_000_000
    plant.duty = 71
    settle(plant, 30)
    assert abs(plant.vacuum_pa - 30000) < 300


def test_skin_lift_scales_with_vacuum_and_cup_and_is_capped():
    plant = Plant(cup_diameter_mm=40, skin_um_kpa=250, max_lift_um=15000)
    plant.pressure_mpa = plant.ambient_mpa - 30_000_000
    assert plant.lift_um() == 7500
    wide = Plant(cup_diameter_mm=80, cup_ul=200000, skin_um_kpa=250, max_lift_um=15000)
    wide.pressure_mpa = wide.ambient_mpa - 30_000_000
    assert wide.lift_um() == 15000  # a wider cup draws more tissue, up to the cap


def test_tissue_never_fills_a_shallow_cup():
    shallow = Plant(cup_diameter_mm=40, cup_ul=5000)  # 4 mm deep
    shallow.pressure_mpa = shallow.ambient_mpa - 60_000_000
    depth_um = 5000 * 1000 // 1256  # volume / area (pi/4 * 40^2 = 1256 mm^2)
    assert shallow.lift_um() == depth_um * 4 // 5  # 80 % of the depth: a fifth stays air


def test_sensor_counts_invert_through_our_driver():
    plant = Plant(noise_pa=0)
    clock = [0]
    bus = SimMPRLSBus(plant, lambda: clock[0])
    sensor = mprls.MPRLS(bus)
    for pa in (20000, 71325, 101325, 150000):
        plant.pressure_mpa = pa * 1000
        assert sensor.start() == 0
        assert sensor.collect() == mprls.ERR_BUSY  # the ~5 ms conversion
        clock[0] += 5
        counts = sensor.collect()
        assert counts > COUNTS_MIN
        assert abs(sensor.counts_to_pa(counts) - pa) <= 1


def test_noise_is_bounded_and_deterministic():
    a, b = Plant(noise_pa=15, seed=7), Plant(noise_pa=15, seed=7)
    values = [a.noise_mpa() for _ in range(2000)]
    assert values == [b.noise_mpa() for _ in range(2000)]
    assert max(values) <= 15000 and min(values) >= -15000 and len(set(values)) > 1000  # mPa


@pytest.mark.parametrize("bad", [{"cup_ul": 0}, {"warp": 1}, {"noise_pa": -1}, {"seed": 1.5}])
def test_bad_parameters_refused(bad):
    with pytest.raises(ValueError):
        Plant(**bad)
