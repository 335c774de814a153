"""The simulated RF emitters (instruments/sim/rf_emitters.py) and the DFS scenario (dfs_scenario.py), called
directly through the scene's emitter protocol: power_dbm(freq_hz, t_s, rbw_hz)."""
from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from conftest import PROFILES
from labbench.analysis.dfs import burst_parameters, classify_radar, find_segments
from labbench.analysis.interference import BLE_ADV_CHANNELS
from labbench.analysis.radar_tables import channel_center_hz, fcc_type1_pulses, radar_types
from labbench.analysis.spectrum import SpectrumTrace, channel_power, thermal_noise_dbm
from labbench.errors import ConfigError
from labbench.instruments.sim.dfs_scenario import build_dfs, dfs_channel_at, load_dfs_config
from labbench.instruments.sim.dut import DutProfile, load_profile
from labbench.instruments.sim.rf_emitters import (
    BleAdvertiser, MicrowaveOven, WifiAccessPoint, build_environment,
)

US = 1e-6
RBW_ZERO_SPAN_HZ = 8e6
FLOOR_8MHZ_DBM = thermal_noise_dbm(1.0645 * RBW_ZERO_SPAN_HZ, 12.0)   # −93.7 dBm: NF 12 dB in 8 MHz RBW


def zero_span(emitter, freq_hz, t_s, rbw_hz=RBW_ZERO_SPAN_HZ):
    t = np.asarray(t_s, dtype=float)
    return emitter.power_dbm(np.full(t.shape, float(freq_hz)), t, rbw_hz)


def profile(**sections) -> DutProfile:
    return DutProfile("test-profile.toml", sections)


# ---------------------------------------------------------------- 2.4 GHz emitters

def test_access_point_channel_power_integrates_back_from_a_swept_trace():
    ap = WifiAccessPoint(channel=6, level_dbm=-60.0, duty_cycle=1.0)
    f = np.arange(2400e6, 2474e6 + 1, 100e3)
    trace = ap.power_dbm(f, np.zeros(f.size), 300e3)
    # Σ reading·Δf/ENBW over ±10 MHz gives the channel power; the RBW smears < 0.05 dB across the band edges
    cp = channel_power(SpectrumTrace.from_dbm(f, trace, rbw_hz=300e3), 2437e6, 20e6)
    assert cp.power_dbm == pytest.approx(-60.0, abs=0.05)
    assert trace[np.argmin(np.abs(f - 2437e6 - 30e6))] < trace.max() - 40    # −48 dBr skirt at 30 MHz


def test_access_point_duty_cycle_over_many_slots():
    ap = WifiAccessPoint(channel=1, level_dbm=-60.0, duty_cycle=0.3, slot_s=5e-3, seed=17)
    t = 0.5e-3 + np.arange(100_000) * 1e-3                 # 20 000 slots, sampled mid-millisecond
    on = zero_span(ap, 2412e6, t) > -200
    # independent slots: the busy fraction has a standard deviation of sqrt(0.21 / 20000) = 0.003
    assert on.mean() == pytest.approx(0.3, abs=0.012)
    # whole slots: the state changes only in the first sample after a slot boundary
    changes = t[1:][on[1:] != on[:-1]]
    assert np.allclose(np.mod(changes, 5e-3), 0.5e-3, atol=1e-9)


def test_access_point_pattern_repeats_for_the_same_times():
    ap = WifiAccessPoint(channel=11, duty_cycle=0.5, seed=4)
    t = np.random.default_rng(0).uniform(0, 10, 5000)
    assert np.array_equal(zero_span(ap, 2462e6, t), zero_span(ap, 2462e6, t))


def test_ble_advertising_packets_on_37_38_39_in_turn():
    ble = BleAdvertiser(level_dbm=-70.0, interval_s=0.05, seed=1)
    t = np.arange(0.0, 1.0, 2 * US)
    on = {ch: zero_span(ble, fc, t, 1e6) > -80.0 for ch, fc in BLE_ADV_CHANNELS.items()}
    for ch, o in on.items():
        starts = t[1:][o[1:] & ~o[:-1]]
        assert starts.size == 20, ch                                      # one packet per 50 ms event
        widths = np.diff(np.flatnonzero(np.diff(o.astype(int)))[:2]) * 2 * US
        assert widths[0] == pytest.approx(376 * US, abs=4 * US)
    s37, s38, s39 = (t[1:][on[c][1:] & ~on[c][:-1]] for c in (37, 38, 39))
    assert np.allclose(s38 - s37, 0.5e-3, atol=4 * US) and np.allclose(s39 - s38, 0.5e-3, atol=4 * US)
    # advDelay: 0-10 ms after each 50 ms boundary
    assert np.all((np.mod(s37, 0.05) >= 0) & (np.mod(s37, 0.05) < 0.0101))
    # nothing between the advertising channels
    assert np.all(zero_span(ble, 2414e6, t, 1e6) < -100)


def test_ble_packet_power_through_a_wide_rbw_is_its_level():
    ble = BleAdvertiser(level_dbm=-70.0)
    t = np.arange(0.0, 0.1, 10 * US)
    assert zero_span(ble, 2402e6, t, 8e6).max() == pytest.approx(-70.0, abs=0.05)  # σ 350 kHz ≪ RBW


@pytest.mark.parametrize("mains_hz", [50.0, 60.0])
def test_microwave_oven_on_half_of_each_mains_cycle_with_a_sweeping_line(mains_hz):
    oven = MicrowaveOven(level_dbm=-60.0, mains_hz=mains_hz, start_hz=2.45e9, sweep_hz=10e6, line_sigma_hz=0.5e6)
    t = np.arange(0.0, 1.0, 10 * US)
    # a (wider than real) 60 MHz RBW sees the whole line wherever it is in its sweep
    wide = zero_span(oven, 2.455e9, t, 60e6) > -70
    assert wide.mean() == pytest.approx(0.5, abs=0.002)
    rises = t[1:][wide[1:] & ~wide[:-1]]
    assert np.median(np.diff(rises)) == pytest.approx(1 / mains_hz, abs=20 * US)
    # the line crosses 2455 MHz a quarter of the way into each mains cycle (halfway through its sweep)
    narrow = zero_span(oven, 2.455e9, t, 100e3)
    peaks = t[narrow > narrow.max() - 0.5]
    # within 0.5 dB of the peak while the line (σ 0.5 MHz, 1 MHz/ms at 50 Hz) passes: ±0.24 ms
    assert np.allclose(np.mod(peaks, 1 / mains_hz), 0.25 / mains_hz, atol=0.3e-3)


def test_environment_section_builds_each_kind_with_its_own_seed():
    em = build_environment(load_profile())
    assert [e.kind for e in em] == ["wifi", "wifi", "ble", "microwave"]
    assert len({e.seed for e in em if hasattr(e, "seed")}) == 3
    assert build_environment(profile(environment={"enabled": False, "wifi": [{"channel": 1}]})) == []
    assert build_environment(profile()) == []


@pytest.mark.parametrize("section, message", [
    ({"wifi": [{"channel": 1, "power": -60}]}, "wifi[0] has unknown key(s) power"),
    ({"wifi": [{"channel": 15}]}, "channel 15 does not exist"),
    ({"radio": 1}, "[environment] has unknown key(s) radio"),
    ({"microwave": [{"mains_hz": 0}]}, "mains_hz and line_sigma_hz must be > 0"),
])
def test_bad_environment_entries_name_the_profile_and_the_key(section, message):
    with pytest.raises(ConfigError, match="test-profile.toml") as err:
        build_environment(profile(environment=section))
    assert message in str(err.value)


# ---------------------------------------------------------------- DFS scenario

def dfs(**keys):
    dut, radar = build_dfs(profile(dfs={"enabled": True, **keys}))
    return dut, radar, dut.scenario


def test_the_first_zero_span_sweep_on_a_dfs_channel_starts_the_test():
    dut, radar, sc = dfs()
    # a swept trace over the band, a zero span at 2.4 GHz and one off a channel centre start nothing
    dut.power_dbm(np.linspace(5.2e9, 5.4e9, 1001), np.linspace(0, 1, 1001), 1e6)
    zero_span(dut, 2437e6, np.linspace(1, 2, 100))
    zero_span(dut, 5290e6, np.linspace(2, 3, 100))
    assert sc.test is None
    zero_span(dut, 5300e6, np.linspace(3.0, 80.0, 1001))
    assert sc.test.channel == 60 and sc.test.selected_s == 3.0
    assert dfs_channel_at(5262e6) == 52 and dfs_channel_at(5180e6) is None and dfs_channel_at(5720e6) == 144


def test_dut_is_silent_for_the_cac_then_transmits_and_leaves_after_radar():
    dut, radar, sc = dfs()
    t = np.arange(0.0, 90.0, 0.5e-3)
    p = zero_span(dut, channel_center_hz(100), t)
    test = sc.test
    on = p > -60
    assert t[on][0] == pytest.approx(60.05, abs=0.5e-3)          # 60 s FCC CAC, first beacon 50 ms later
    assert test.radar.start_s[0] == pytest.approx(65.0) and test.radar.radar.key == "FCC-1"
    assert test.radar.start_s.size == fcc_type1_pulses(test.radar.pris_s[0])
    re = test.radar_end_s
    after = t[on & (t > re)]
    # traffic for 50 ms, then 1 ms channel switch announcements up to 1.25 s after the burst
    assert after[-1] == pytest.approx(re + 1.251, abs=1e-3)
    assert np.all(p[t > re + 1.26] == -np.inf)
    # the DUT reads its channel power through the 8 MHz RBW: −30 dBm − 3.1 dB (ENBW 8.5 of ~17.5 MHz)
    assert p.max() == pytest.approx(-33.0, abs=0.2)


def test_radar_comes_at_threshold_plus_1_db_and_its_pulses_are_1_us():
    dut, radar, sc = dfs()
    zero_span(radar, 5260e6, [0.0, 1.0])
    b = sc.test.radar
    t = np.arange(b.start_s[0] - 10 * US, b.start_s[0] + 10 * US, 0.01 * US)
    p = zero_span(radar, 5260e6, t)
    on = t[p > -100]
    assert p.max() == pytest.approx(-63.0, abs=1e-9)
    assert on[-1] - on[0] == pytest.approx(1 * US, abs=0.011 * US)
    assert zero_span(radar, 5300e6, t).max() < -200                 # 40 MHz away through 8 MHz RBW


def test_etsi_weather_channel_cac_is_ten_minutes():
    dut, radar, sc = dfs(domain="ETSI", radar_type="0")
    t = np.arange(0.0, 700.0, 1e-3)
    p = zero_span(dut, channel_center_hz(124), t)
    assert t[p > -60][0] == pytest.approx(600.05, abs=1e-3)
    assert sc.test.radar.start_s[0] == pytest.approx(605.0)


def test_fault_profile_transmits_in_the_cac_and_moves_late():
    cfg = load_dfs_config(load_profile(PROFILES / "fault-dfs.toml"))
    dut, radar = build_dfs(load_profile(PROFILES / "fault-dfs.toml"))
    t = np.arange(0.0, 100.0, 1e-3)
    p = zero_span(dut, 5260e6, t)
    re = dut.scenario.test.radar_end_s
    assert cfg.cac_s == 20.0 and t[p > -60][0] == pytest.approx(20.05, abs=1e-3)
    assert t[p > -60][-1] == pytest.approx(re + 12.0, abs=6e-3)


def test_a_new_test_starts_on_another_channel_or_after_the_non_occupancy_period():
    dut, radar, sc = dfs()
    zero_span(dut, 5260e6, [0.0, 1.0])
    first = sc.test
    zero_span(dut, 5260e6, [100.0, 200.0])
    assert sc.test is first                                            # same channel, same test
    zero_span(dut, 5260e6, [first.end_s + 1, first.end_s + 2])
    assert sc.test is not first and sc.test.selected_s == first.end_s + 1
    zero_span(dut, 5500e6, [first.end_s + 3, first.end_s + 4])
    assert sc.test.channel == 100 and sc.tests_started == 3


def test_dfs_section_refuses_unknown_types_and_keys():
    with pytest.raises(ConfigError, match="valid: 0, 1"):
        build_dfs(profile(dfs={"radar_type": "9"}))
    with pytest.raises(ConfigError, match="unknown key"):
        build_dfs(profile(dfs={"radar": "1"}))
    assert build_dfs(profile()) == [] and build_dfs(profile(dfs={"enabled": False})) == []


# ---------------------------------------------------------------- every radar type, classified

# As in tests/analysis/test_rf_dfs.py: draws of W53 variable 4 and chirp 6 can land inside the narrower
# variable 3 / chirp 5 box (the tables overlap there and the more specific type is named): widths beyond 5 us.
_OVERRIDES = {"W53-variable-4": dict(radar_pulse_width_s=9 * US), "W53-chirp-6": dict(radar_pulse_width_s=9 * US)}
ALL = [t for d in ("FCC", "ETSI", "MIC") for t in radar_types(d)]


@pytest.mark.parametrize("radar_t", ALL, ids=[t.key for t in ALL])
def test_each_radar_type_is_classified_from_a_fine_zero_span_trace_of_the_emitter(radar_t):
    channel = 52 if radar_t.band == "W53" else 100
    seed = zlib.crc32(radar_t.key.encode()) % 1000
    dut, radar, sc = dfs(domain=radar_t.domain, radar_type=radar_t.name, seed=seed,
                         **_OVERRIDES.get(radar_t.name, {}))
    fc = channel_center_hz(channel)
    zero_span(radar, fc, [0.0, 1.0])                                  # the analyzer selects the channel
    b = sc.test.radar
    # 0.1 us points resolve 0.5 us pulses; the 12 s long-pulse bursts (50-100 us) need only 4 us
    dt = 4 * US if radar_t.bursts[1] > 1 else 0.1 * US
    t = b.start_s[0] - 100 * US + np.arange(int((b.duration_s + 300 * US) / dt)) * dt
    rng = np.random.default_rng(seed)
    mw = 10 ** (zero_span(radar, fc, t) / 10) + 10 ** (FLOOR_8MHZ_DBM / 10) * rng.standard_exponential(t.size)
    trace = 10 * np.log10(mw)
    params = burst_parameters(find_segments(trace, dt, t0_s=t[0]), observed_s=t.size * dt)
    match = classify_radar(params, radar_t.domain, radar_t.band)
    assert match.best is radar_t, (match.best_key, [c.radar.key for c in match.candidates])
    if radar_t.hopping:          # every hop kept in the channel seen whole: 9 pulses each
        assert sum(params.pulses_per_burst) == b.start_s.size and b.start_s.size % 9 == 0
    elif radar_t.bursts[1] == 1:  # every pulse of the burst seen (pairs count once)
        assert params.pulse_count == b.start_s.size // (2 if radar_t.pair else 1)
    assert math.isfinite(params.pulse_width_s)


# ---------------------------------------------------------------- hooks for the scene's detectors

def test_peak_hook_equals_dense_sampling_of_each_bucket():
    dut, radar, sc = dfs(stop_after_s=0.2)
    bucket = 4e-3
    t = np.arange(20001) * bucket
    f = np.full(t.size, 5260e6)
    rng = np.random.default_rng(3)
    # dense looks: 1 ms frames need 20 us, 1 us pulses 0.25 us
    for emitter, step_s in ((dut, 20 * US), (radar, 0.25 * US)):
        hook = emitter.peak_power_dbm(f, t, t + bucket, RBW_ZERO_SPAN_HZ)
        busy = np.flatnonzero(hook > -200)
        quiet = np.flatnonzero(hook == -np.inf)
        picked = np.concatenate((rng.choice(busy, min(busy.size, 40), replace=False), rng.choice(quiet, 40)))
        sub = t[picked, None] + np.arange(int(bucket / step_s)) * step_s
        dense = zero_span(emitter, 5260e6, sub.ravel()).reshape(sub.shape).max(axis=1)
        assert np.array_equal(hook[picked], dense)
    # a pulse in every bucket its burst touches, and nowhere else
    on = radar.peak_power_dbm(f, t, t + bucket, 8e6) > -100
    b = sc.test.radar
    touched = np.concatenate((np.floor(b.start_s / bucket), np.floor((b.start_s + b.width_s) / bucket)))
    assert np.array_equal(np.flatnonzero(on), np.unique(touched).astype(int))


def test_radar_iq_is_rectangular_carrier_pulses_of_the_radar_level():
    dut, radar, sc = dfs()
    zero_span(radar, 5260e6, [0.0, 1.0])
    b = sc.test.radar
    fs = 40e6
    assert radar.iq(5260e6, fs, 1000, 10.0, None) is None                       # no pulse in the window
    x = radar.iq(5260e6, fs, 4000, b.start_s[0] - 10 * US, None)
    power_dbm = 10 * np.log10(np.abs(x[np.abs(x) > 0]) ** 2)
    assert np.allclose(power_dbm, -63.0) and np.count_nonzero(x) == pytest.approx(40, abs=1)   # 1 us at 40 MSa/s
