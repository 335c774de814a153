"""Known-answer tests for labbench.analysis.current (standards.md §3, §5, §7.7)."""
import dataclasses

import h5py
import numpy as np
import pytest
from scipy import signal

from labbench.analysis.current import (
    METRIC_NAMES, CurrentProfileAccumulator, analyze_current, battery_life_h, fraction_above,
    level_exceeded,
)
from labbench.errors import AnalysisError, UsageError

HOURS_PER_YEAR = 8766.0


# --- synthetic captures ------------------------------------------------------------------------

def duty_cycle_capture(periods=2, fs_hz=10e3, wake_at_s=0.1):
    """standards.md §7.7: per 60 s period, 5 mA 0.5 ms, 1.8 mA 3 ms, 8.5 mA 3.6 ms, 4.2 mA 1.5 ms,
    2 mA 0.4 ms (45.6 uC in 9 ms) and 1.5 uA the rest. At 10 kSa/s every duration is a whole number of
    samples, so the synthesized charge is exact and the test can be tight."""
    burst = np.concatenate([np.full(int(round(d * fs_hz)), i) for i, d in
                            [(5e-3, 0.5e-3), (1.8e-3, 3e-3), (8.5e-3, 3.6e-3), (4.2e-3, 1.5e-3), (2e-3, 0.4e-3)]])
    period = np.full(int(60 * fs_hz), 1.5e-6)
    i0 = int(wake_at_s * fs_hz)
    period[i0:i0 + burst.size] = burst
    return np.tile(period, periods), 1 / fs_hz


def noisy_profile(periods=10, fs_hz=100e3, period_s=1.0, seed=3):
    """Sleep 1.5 uA, wake to MCU 3 mA for 5 ms, TX 25 mA for 2 ms, MCU 5 ms, sleep; wake times jittered
    +-2 ms; RC edges (tau 20 us); 3 % multiplicative + 0.1 uA additive Gaussian noise. Per event the
    charge is 3 mA x 10 ms + 25 mA x 2 ms = 80 uC."""
    rng = np.random.default_rng(seed)
    n = int(periods * period_s * fs_hz)
    target = np.full(n, 1.5e-6)
    act, tx = int(5e-3 * fs_hz), int(2e-3 * fs_hz)
    for k in range(periods):
        i0 = int((k * period_s + 0.2 + rng.uniform(-2e-3, 2e-3)) * fs_hz)
        target[i0:i0 + 2 * act + tx] = 3e-3
        target[i0 + act:i0 + act + tx] = 25e-3
    a = np.exp(-1 / (fs_hz * 20e-6))
    x = signal.lfilter([1 - a], [1, -a], target, zi=[a * 1.5e-6])[0]
    return x * (1 + 0.03 * rng.standard_normal(n)) + 0.1e-6 * rng.standard_normal(n), 1 / fs_hz


@pytest.fixture(scope="module")
def noisy():
    x, dt = noisy_profile()
    return x, dt, analyze_current(x, dt, capacity_mah=225)


# --- standards.md §7.7 ---------------------------------------------------------------------------

def test_duty_cycle_reference_gives_2_2598ua_and_11_36_years_on_225mah():
    x, dt = duty_cycle_capture()
    r = analyze_current(x, dt, capacity_mah=225, supply_v=3.0)
    # 135.5865 uC per 60 s; averaged over the whole period between the two wake triggers.
    # Tolerance 1e-9 relative: the samples hold the exact waveform, only float rounding remains.
    assert r.avg_current_a == pytest.approx(135.5865e-6 / 60, rel=1e-9)
    assert r.avg_current_a == pytest.approx(2.2598e-6, abs=0.00005e-6)          # as printed in §7.7
    assert r.period_s == pytest.approx(60.0, rel=1e-12)
    assert r.battery_life_h == pytest.approx(99_567, abs=1)
    assert round(r.battery_life_years, 2) == 11.36
    derated = analyze_current(x, dt, capacity_mah=225, derating=0.8)
    assert round(derated.battery_life_years, 2) == 9.09
    assert r.wake_event_charge_c == pytest.approx(45.6e-6, rel=1e-9)
    assert r.wake_event_energy_j == pytest.approx(45.6e-6 * 3.0, rel=1e-9)
    assert [e.duration_s for e in r.events] == pytest.approx([9e-3] * 2, rel=1e-9)
    assert all(e.complete for e in r.events)
    assert r.sleep_current_a == pytest.approx(1.5e-6, rel=1e-9)
    assert r.tx_peak_current_a == pytest.approx(8.5e-3, rel=1e-12)
    assert [s.name for s in r.states] == ["sleep", "active", "active_2", "tx"]   # 1.8/2, 4.2/5 and 8.5 mA
    assert set(r.metric_values()) == set(METRIC_NAMES)


def test_8ma_for_10ms_is_80uc():
    fs = 100e3
    x = np.full(int(fs), 2e-6)
    x[40_000:41_000] = 8e-3                    # 1000 samples at 100 kSa/s = 10 ms
    r = analyze_current(x, 1 / fs)
    (event,) = r.events
    assert event.charge_c == pytest.approx(80e-6, rel=1e-9)
    assert event.duration_s == pytest.approx(10e-3, rel=1e-12)
    assert event.start_s == pytest.approx(0.4, rel=1e-12)
    assert r.state("active").charge_c == pytest.approx(80e-6, rel=1e-9)
    assert r.wake_event_charge_c == pytest.approx(80e-6, rel=1e-9)


def test_charge_equals_mean_current_times_duration_and_sums_to_the_integral(noisy):
    x, dt, r = noisy
    for s in r.states:
        assert s.charge_c == pytest.approx(s.mean_current_a * s.dwell_s, rel=1e-12)
    # states partition the capture: their charges add up to the integral of the whole record
    assert sum(s.charge_c for s in r.states) == pytest.approx(np.sum(x) * dt, rel=1e-9)
    for e in r.events:
        a, b = round(e.start_s / dt), round(e.end_s / dt)
        assert e.charge_c == pytest.approx(np.sum(x[a:b]) * dt, rel=1e-9)
        assert e.charge_c == pytest.approx(e.mean_current_a * e.duration_s, rel=1e-12)
    # and the known answer of the synthetic profile, 80 uC per event (noise, RC edges: 0.5 %)
    assert r.wake_event_charge_c == pytest.approx(80e-6, rel=5e-3)


# --- hygiene: holes, impossible samples, clipping ---------------------------------------------

def test_nan_holes_give_the_same_averages_over_the_samples_present():
    x, dt = duty_cycle_capture()
    full = analyze_current(x, dt, capacity_mah=225)
    holed = x.copy()
    holed[200_000:202_000] = np.nan            # a 0.2 s gap in sleep
    holed[5::997] = np.nan                      # scattered dropped samples
    i_tx = 1000 + 5 + 30 + 10                   # inside the 8.5 mA plateau of the first burst
    holed[i_tx:i_tx + 5] = np.nan
    r = analyze_current(holed, dt, capacity_mah=225)
    assert r.missing_samples == int(np.isnan(holed).sum())
    assert r.rejected_samples == 0
    for name in ("sleep", "tx"):                # holes inside a flat level do not move its mean
        assert r.state(name).mean_current_a == pytest.approx(full.state(name).mean_current_a, rel=1e-12)
    # 1.8 and 2 mA share "active", 4.2 and 5 mA "active_2": their means are over the samples present
    for name, currents in (("active", [1.8e-3, 2e-3]), ("active_2", [4.2e-3, 5e-3])):
        assert r.state(name).mean_current_a == pytest.approx(np.nanmean(holed[np.isin(x, currents)]), rel=1e-12)
    for name in ("sleep", "active", "active_2", "tx"):   # dwell is wall time, holes included
        assert r.state(name).dwell_s == pytest.approx(full.state(name).dwell_s, rel=1e-12)
    a, b = round(r.events[0].start_s / dt), round(r.events[-1].start_s / dt)
    assert r.avg_current_a == pytest.approx(np.nanmean(holed[a:b]), rel=1e-12)
    e = r.events[0]
    s0, s1 = round(e.start_s / dt), round(e.end_s / dt)
    assert e.charge_c == pytest.approx(np.nanmean(holed[s0:s1]) * e.duration_s, rel=1e-12)
    assert len(r.events) == 2 and r.period_s == pytest.approx(60.0)


def test_impossible_samples_are_rejected_and_counted():
    x, dt = duty_cycle_capture()
    bad = x.copy()
    bad[[10, 20, 30, 40, 50]] = 9.9             # a 1 A sensor cannot report 9.9 A (PPK2-style glitch)
    bad[[60, 70]] = np.inf
    bad[80] = -50.0
    r = analyze_current(bad, dt, valid_range_a=(-0.1, 1.0))
    assert r.rejected_samples == 8
    assert r.missing_samples == 0
    clean = x.copy()
    clean[[10, 20, 30, 40, 50, 60, 70, 80]] = np.nan
    ref = analyze_current(clean, dt, valid_range_a=(-0.1, 1.0))
    assert r.sleep_current_a == ref.sleep_current_a == pytest.approx(1.5e-6, rel=1e-12)
    assert r.peak_current_a == pytest.approx(8.5e-3)
    assert r.avg_current_a == ref.avg_current_a


def test_clipping_is_reported_and_what_it_falsifies_is_not_measured():
    x, dt = noisy_profile(periods=6)
    x = np.minimum(x, 20e-3)                    # a 20 mA range: the 25 mA TX bursts saturate
    r = analyze_current(x, dt, capacity_mah=225, clip_limits_a=(-20e-3, 20e-3))
    n_clip = int(np.count_nonzero(x >= 20e-3))
    assert r.clipped and r.clipped_samples == n_clip
    assert r.state("tx").clipped_samples == n_clip
    for name in ("tx_peak_current_a", "avg_current_a", "battery_life_h", "wake_event_charge_c",
                 "wake_event_energy_j", "current_p99_99_a"):
        assert np.isnan(r.metric_values()[name]), name
    assert r.sleep_current_a == pytest.approx(1.5e-6, rel=0.01)   # sleep never touched the limit
    assert r.active_current_a == pytest.approx(3e-3, rel=0.01)
    with pytest.raises(AnalysisError, match="range limits"):
        analyze_current(x, dt, clip_limits_a=(-20e-3, 20e-3), on_clip="raise")
    measured = analyze_current(x, dt, clip_limits_a=(-20e-3, 20e-3), on_clip="measure")
    assert measured.tx_peak_current_a == pytest.approx(20e-3)      # a bound, not the truth
    assert not analyze_current(x, dt, clip_limits_a=(-0.1, 0.1)).clipped


# --- segmentation --------------------------------------------------------------------------------

def test_levels_found_from_noisy_data_and_hysteresis_does_not_chatter(noisy):
    _, _, r = noisy
    assert [s.name for s in r.states] == ["sleep", "active", "tx"]
    assert r.levels_a == pytest.approx([1.5e-6, 3e-3, 25e-3], rel=0.03)   # histogram bins: 2.3 %
    # 10 wake-ups, each MCU -> TX -> MCU: exactly these visits, whatever the 3 % noise does
    assert [s.visits for s in r.states] == [11, 20, 10]
    assert len(r.events) == 10 and all(e.complete for e in r.events)
    assert r.period_s == pytest.approx(1.0, abs=4e-3)                      # jitter +-2 ms
    assert r.sleep_current_a == pytest.approx(1.5e-6, rel=1e-3)
    # a state keeps the in-band samples of the edge that leaves it (hysteresis), so its mean includes
    # part of its RC edges: 1 % for MCU, 2 % for the short TX burst
    assert r.active_current_a == pytest.approx(3e-3, rel=0.01)
    assert r.state("tx").mean_current_a == pytest.approx(25e-3, rel=0.02)
    assert r.state("tx").dwell_s == pytest.approx(10 * 2e-3, rel=0.02)


def test_capture_cut_inside_events_marks_them_incomplete_and_leaves_them_out():
    fs = 100e3
    x = np.full(50_000, 2e-6)
    x[:500] = 5e-3                              # the capture starts inside a wake-up
    x[20_000:20_300] = 5e-3                     # one whole event: 15 uC
    x[-400:] = 5e-3                             # and ends inside another
    r = analyze_current(x, 1 / fs)
    assert [e.complete for e in r.events] == [False, True, False]
    assert r.wake_event_charge_c == pytest.approx(15e-6, rel=1e-9)


def test_single_level_capture_has_no_events_and_averages_everything():
    r = analyze_current(np.full(100_000, 1.5e-6), 1e-4, capacity_mah=225)
    assert [s.name for s in r.states] == ["sleep"]
    assert r.events == () and np.isnan(r.period_s)
    assert r.avg_current_a == pytest.approx(1.5e-6, rel=1e-12)
    assert r.battery_life_h == pytest.approx(225 / 1.5e-3, rel=1e-12)


# --- wake-up transient -----------------------------------------------------------------------------

def second_order_step(t_s, zeta, wn):
    wd = wn * np.sqrt(1 - zeta**2)
    y = 1 - np.exp(-zeta * wn * t_s) / np.sqrt(1 - zeta**2) * np.sin(wd * t_s + np.arccos(zeta))
    return np.where(t_s >= 0, y, 0.0)


def test_second_order_wake_step_gives_known_overshoot_rise_resume_and_settling():
    # sleep 1.5 uA -> 5 mA through a 2nd-order response, zeta 0.4, fn 5 kHz, sampled at 1 MSa/s;
    # 5 ms active then back to sleep, three wake-ups 50 ms apart
    fs, zeta, wn, i_s, i_a = 1e6, 0.4, 2 * np.pi * 5e3, 1.5e-6, 5e-3
    period = np.full(int(50e-3 * fs), i_s)
    k = np.arange(int(5e-3 * fs))
    period[1000:1000 + k.size] = i_s + (i_a - i_s) * second_order_step(k / fs, zeta, wn)
    r = analyze_current(np.tile(period, 3), 1 / fs)
    assert len(r.levels_a) == 2                                   # the ringing makes no extra level
    # known answers from the analytic response on a 1 ns grid, thresholds as the analysis states them
    t = np.arange(0, 5e-3, 1e-9)
    y = i_s + (i_a - i_s) * second_order_step(t, zeta, wn)
    t_trig = t[np.argmax(y >= r.wake_threshold_a)]
    t10 = t[np.argmax(y >= i_s + 0.1 * (i_a - i_s))]
    t90 = t[np.argmax(y >= i_s + 0.9 * (i_a - i_s))]
    t_settle = t[np.flatnonzero(np.abs(y - i_a) > 0.05 * i_a)[-1]]
    overshoot_pct = 100 * np.exp(-np.pi * zeta / np.sqrt(1 - zeta**2))     # 25.38 %
    # tolerances: linear interpolation between 1 us samples of a smooth curve, 0.05 sample; the
    # sampled crest is within (wd dt)^2/8 of the true one, < 0.01 %-points
    assert r.wake_overshoot_pct == pytest.approx(overshoot_pct, abs=0.01)
    assert r.wake_rise_time_s == pytest.approx(t90 - t10, abs=0.05e-6)
    assert r.resume_time_s == pytest.approx(t90 - t_trig, abs=0.05e-6)
    assert r.wake_settling_time_s == pytest.approx(t_settle - t_trig, abs=0.05e-6)
    assert r.settle_band_pct == 5.0
    assert r.events[0].transient.active_level_a == pytest.approx(i_a, rel=1e-6)


# --- CCDF --------------------------------------------------------------------------------------------

def ccdf_capture():
    x = np.full(1_000_000, 2e-3)
    x[1000:1050] = 100e-3        # 0.005 % of the time at 100 mA
    x[5000:5100] = 10e-3         # 0.01 % at 10 mA
    return x


def test_current_p99_99_is_the_level_exceeded_0_01_pct_of_the_time():
    x = ccdf_capture()
    # exact: 150 samples above 2 mA; the 101st highest is 10 mA, exceeded by 50 samples = 0.005 %
    assert level_exceeded(x, 1e-4) == 10e-3
    assert fraction_above(x, 5e-3) == pytest.approx(150 / 1e6)
    r = analyze_current(x, 1e-6)
    # from the 1000-per-decade histogram: level within one bin (0.23 %), fraction exact between levels
    assert r.current_p99_99_a == pytest.approx(10e-3, rel=2.3e-3)
    assert r.ccdf.fraction_above(5e-3) == pytest.approx(150 / 1e6, rel=1e-12)
    assert r.ccdf.fraction_above(50e-3) == pytest.approx(50 / 1e6, rel=1e-12)
    assert r.ccdf.fraction_above(1.0) == 0.0
    levels, frac = r.ccdf.curve()
    assert np.all(np.diff(frac) <= 0) and frac[0] == 1.0


def test_exact_ccdf_convention_at_its_ends():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert level_exceeded(x, 0.0) == 4.0        # exceeded by nothing: the maximum
    assert level_exceeded(x, 0.2) == 4.0        # 0.2 * 4 = 0.8 samples: still none may exceed
    assert level_exceeded(x, 0.25) == 3.0       # one sample (25 %) above 3
    assert level_exceeded(x, 0.999) == 1.0      # the minimum
    assert fraction_above(x, 4.0) == 0.0 and fraction_above(x, 0.5) == 1.0
    assert fraction_above(np.array([1.0, np.nan, 3.0]), 2.0) == 0.5   # over the samples present


# --- spectrum ----------------------------------------------------------------------------------------

def test_current_spectrum_finds_a_1khz_spike_train_and_integrates_to_the_variance():
    fs = 1e6
    x = np.full(1 << 20, 2e-3)
    t = np.arange(x.size)
    x[(t % 1000) < 20] = 50e-3                  # 20 us spikes every 1 ms
    r = analyze_current(x, 1 / fs, psd_nperseg=8192)
    assert abs(r.current_spur_freq_hz - 1e3) <= r.spectrum.resolution_hz
    assert r.spectrum.unit == "A^2/Hz"
    f, p = signal.welch(x, fs, nperseg=8192)    # same density scaling as scipy's Welch
    np.testing.assert_allclose(r.spectrum.density, p, rtol=1e-9, atol=1e-30)
    # Parseval: 1 %; the 50 % overlapped Hann segments weight every sample alike over 1 ms cycles
    assert r.spectrum.band_power() == pytest.approx(np.var(x), rel=0.01)


# --- chunks ----------------------------------------------------------------------------------------

def assert_profiles_equal(a, b):
    for name in METRIC_NAMES + ("peak_current_a", "period_s", "wake_rise_time_s"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-9, nan_ok=True), name
    assert a.levels_a == pytest.approx(b.levels_a, rel=1e-12)
    assert len(a.events) == len(b.events)
    for ea, eb in zip(a.events, b.events):
        fa, fb = dataclasses.asdict(ea), dataclasses.asdict(eb)
        ta, tb = fa.pop("transient"), fb.pop("transient")
        assert fa == pytest.approx(fb, rel=1e-9, nan_ok=True)
        assert ta == pytest.approx(tb, rel=1e-9, nan_ok=True)
    for sa, sb in zip(a.states, b.states):
        assert (sa.name, sa.visits, sa.dwell_s) == (sb.name, sb.visits, sb.dwell_s)
        assert sa.mean_current_a == pytest.approx(sb.mean_current_a, rel=1e-9)
    np.testing.assert_array_equal(a.ccdf.counts, b.ccdf.counts)
    np.testing.assert_allclose(a.spectrum.density, b.spectrum.density, rtol=1e-9)


def test_chunked_result_equals_one_shot(noisy):
    x, dt, one_shot = noisy
    holed = x.copy()
    holed[123_456:124_000] = np.nan
    # 77_777 and 2_003 samples: boundaries fall inside events, edges and holes
    for chunk in (77_777, 2_003):
        assert_profiles_equal(analyze_current(x, dt, capacity_mah=225, chunk_samples=chunk), one_shot)
    assert_profiles_equal(analyze_current(holed, dt, chunk_samples=77_777),
                          analyze_current(holed, dt, chunk_samples=holed.size))


def test_streaming_accumulator_over_an_hdf5_dataset_equals_one_shot(noisy):
    x, dt, one_shot = noisy
    with h5py.File("capture.h5", "w", driver="core", backing_store=False) as f:
        ds = f.create_dataset("current", data=x.astype(np.float64), chunks=(65_536,))
        assert_profiles_equal(analyze_current(ds, dt, capacity_mah=225, chunk_samples=100_000), one_shot)
        acc = CurrentProfileAccumulator(dt, capacity_mah=225)
        for a in range(0, ds.shape[0], 300_000):     # pass 1: levels
            acc.survey(ds[a:a + 300_000])
        for a in range(0, ds.shape[0], 300_000):     # pass 2: everything else
            acc.add(ds[a:a + 300_000])
        assert_profiles_equal(acc.result(), one_shot)


def test_known_levels_need_one_pass_and_a_missing_survey_is_an_error(noisy):
    x, dt, one_shot = noisy
    acc = CurrentProfileAccumulator(dt, capacity_mah=225, levels_a=one_shot.levels_a)
    assert not acc.needs_survey
    acc.add(x)
    assert acc.result().avg_current_a == pytest.approx(one_shot.avg_current_a, rel=1e-12)
    with pytest.raises(AnalysisError, match="survey"):
        CurrentProfileAccumulator(dt).add(x[:1000])


# --- formulas and parameters ---------------------------------------------------------------------

def test_battery_life_formula_with_derating_and_self_discharge():
    assert battery_life_h(2.2598e-6, 225) == pytest.approx(225 / 2.2598e-3)
    assert battery_life_h(2.2598e-6, 225, derating=0.8) / HOURS_PER_YEAR == pytest.approx(9.09, abs=0.005)
    # 1 %/year of 225 mAh is an equivalent 0.2567 uA: life drops to 225 / (2.2598 + 0.2567) uA
    with_sd = battery_life_h(2.2598e-6, 225, self_discharge_pct_per_year=1.0)
    assert with_sd == pytest.approx(225 / (2.2598e-3 + 2.25 / HOURS_PER_YEAR), rel=1e-12)


def test_unknown_or_invalid_parameters_are_usage_errors():
    x = np.full(1000, 1e-6)
    with pytest.raises(UsageError, match="unknown parameter.*capacity_ah"):
        analyze_current(x, 1e-3, capacity_ah=0.225)
    with pytest.raises(UsageError, match="derating"):
        analyze_current(x, 1e-3, derating=1.5)
    with pytest.raises(UsageError, match="dt_s"):
        analyze_current(x, -1.0)
    with pytest.raises(UsageError, match="on_clip"):
        analyze_current(x, 1e-3, on_clip="ignore")
