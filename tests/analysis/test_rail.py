"""Known-answer tests for labbench.analysis.rail (standards.md §6 and §7.8)."""
import numpy as np
import pytest
from scipy import signal

from labbench.analysis.rail import analyze_rail, bandlimit
from labbench.errors import AnalysisError, UsageError

FS_HZ = 200e6            # 200 MSa/s: the 20 MHz bandwidth filter sits well below Nyquist
N = 1 << 19              # 2.6 ms of record, 0.1 s per analysis
T_S = np.arange(N) / FS_HZ


def sine(amp_pp_v, freq_hz, phase=0.0):
    return 0.5 * amp_pp_v * np.sin(2 * np.pi * freq_hz * T_S + phase)


def test_1v_plus_10mv_pp_sine_gives_rms_3536uv_pp_10mv_and_passes_3pct():
    # 1 MHz: 200 samples per cycle, so samples land on the crests and pk-pk is exact to ~1e-6
    r = analyze_rail(1.000 + sine(10e-3, 1e6), 1 / FS_HZ, nominal_v=1.0, tolerance_pct=3.0)
    assert r.noise_rms_v == pytest.approx(3.536e-3, rel=0.01)        # standards.md §7.8, 1 % asked
    assert r.noise_rms_v == pytest.approx(10e-3 / (2 * np.sqrt(2)), rel=1e-4)  # and much closer in fact
    assert r.ripple_pp_v == pytest.approx(10e-3, rel=1e-3)
    assert r.rail_dc_v == pytest.approx(1.0, abs=1e-6)
    assert r.worst_deviation_pct == pytest.approx(0.5, abs=1e-3)
    assert r.within_tolerance
    assert set(r.metric_values()) == {"rail_dc_v", "ripple_pp_v", "noise_rms_v", "switching_freq_hz",
                                      "spur_max_dbv", "worst_deviation_pct"}


def test_psd_integrates_to_ac_rms_parseval():
    rng = np.random.default_rng(5)
    v = 1.0 + sine(10e-3, 1.3e6) + rng.normal(0, 2e-3, N)
    r = analyze_rail(v, 1 / FS_HZ, nominal_v=1.0, bandwidth_hz=None)
    # integral of the one-sided density over all bins = AC mean square; 1 % asked, Welch averaging of
    # 63 segments leaves about 0.2 % scatter on the total
    assert np.sqrt(r.spectrum.band_power()) == pytest.approx(np.std(v), rel=0.01)
    assert np.sqrt(r.spectrum.band_power()) == pytest.approx(r.noise_rms_v, rel=0.01)


def test_psd_density_scaling_matches_scipy_welch():
    rng = np.random.default_rng(6)
    v = 1.0 + rng.normal(0, 1e-3, N)
    r = analyze_rail(v, 1 / FS_HZ, nperseg=4096)
    f, p = signal.welch(v, FS_HZ, nperseg=4096)
    np.testing.assert_allclose(r.spectrum.freq_hz, f)
    np.testing.assert_allclose(r.spectrum.density, p, rtol=1e-9)
    # white noise of sigma 1 mV at 200 MSa/s: 2 sigma^2 / fs = 1e-14 V^2/Hz = -140 dBV/sqrt(Hz)
    assert np.median(r.spectrum.density_db()[10:-10]) == pytest.approx(-140.0, abs=0.3)


def test_switching_frequency_found_within_one_fft_bin_among_harmonics_and_noise():
    rng = np.random.default_rng(7)
    f_sw = 1.234567e6   # deliberately between bins
    ripple = sine(8e-3, f_sw) + sine(3e-3, 2 * f_sw, 0.3) + sine(1.5e-3, 3 * f_sw, 1.1)
    load_steps = -4e-3 * (np.sin(2 * np.pi * 2e3 * T_S) > 0.9)   # slow activity-related dips
    v = 1.0 + ripple + load_steps + rng.normal(0, 0.5e-3, N)
    r = analyze_rail(v, 1 / FS_HZ, nominal_v=1.0)
    assert abs(r.switching_freq_hz - f_sw) <= r.spectrum.resolution_hz
    # the fundamental is the strongest spur: 8 mV pk-pk = 2.83 mV RMS = -50.97 dBV (0.3 dB: floor, leakage)
    assert r.spur_max_dbv == pytest.approx(20 * np.log10(4e-3 / np.sqrt(2)), abs=0.3)
    assert [s.freq_hz for s in r.spurs[:3]] == pytest.approx([f_sw, 2 * f_sw, 3 * f_sw],
                                                          abs=r.spectrum.resolution_hz)


def test_measurement_bandwidth_is_minus_3db_at_20mhz_and_removes_out_of_band():
    at_band = analyze_rail(1.0 + sine(10e-3, 20e6), 1 / FS_HZ, bandwidth_hz=20e6)
    assert at_band.noise_rms_v / 3.5355e-3 == pytest.approx(1 / np.sqrt(2), rel=0.01)
    above = analyze_rail(1.0 + sine(10e-3, 60e6), 1 / FS_HZ, bandwidth_hz=20e6)
    assert above.noise_rms_v < 0.01 * 3.5355e-3      # 8th-order overall: > 40 dB down at 3x the band
    in_band = analyze_rail(1.0 + sine(10e-3, 2e6), 1 / FS_HZ, bandwidth_hz=20e6)
    assert in_band.ripple_pp_v == pytest.approx(10e-3, rel=1e-3)   # flat in band, no phase skew


def test_zero_phase_filter_does_not_move_a_dip_in_time():
    dip = -20e-3 * np.exp(-0.5 * ((T_S - 1e-3) / 200e-9) ** 2)
    out = bandlimit(1.0 + dip, 1 / FS_HZ, 20e6)
    assert abs(np.argmin(out) - np.argmin(dip)) <= 1


def test_worst_deviation_of_offset_rail_with_ripple_and_a_load_step_dip():
    # 1.005 V (+0.5 %) + 10 mV pk-pk: highest 1.010 V (+1.0 %); a 25 mV Gaussian dip (sigma 1 us)
    # centred on a ripple trough (t = 1000.75 us, a sample instant): lowest 1.005 - 0.005 - 0.025 =
    # 0.975 V (-2.5 %); both are far inside 20 MHz, so they keep their depth to 0.01 %-points
    dip = -25e-3 * np.exp(-0.5 * ((T_S - 1000.75e-6) / 1e-6) ** 2)
    v = 1.005 + sine(10e-3, 1e6) + dip
    r = analyze_rail(v, 1 / FS_HZ, nominal_v=1.0, tolerance_pct=3.0)
    assert r.deviation_max_pct == pytest.approx(1.0, abs=0.01)
    assert r.deviation_min_pct == pytest.approx(-2.5, abs=0.01)
    assert r.worst_deviation_pct == pytest.approx(2.5, abs=0.01)
    assert r.within_tolerance
    tight = analyze_rail(v, 1 / FS_HZ, nominal_v=1.0, tolerance_pct=2.0)
    assert not tight.within_tolerance


def test_clipped_capture_is_flagged_and_amplitudes_are_not_measured():
    v = 1.0 + sine(10e-3, 1e6)
    v_screen = np.clip(v, 0.99, 1.004)        # the top of the screen is at 1.004 V
    r = analyze_rail(v_screen, 1 / FS_HZ, nominal_v=1.0, adc_limits_v=(0.99, 1.004))
    assert r.clipped and r.clipped_samples > 0
    for name in ("rail_dc_v", "ripple_pp_v", "noise_rms_v", "worst_deviation_pct", "spur_max_dbv"):
        assert np.isnan(r.metric_values()[name]), name
    assert not r.within_tolerance
    assert r.switching_freq_hz == pytest.approx(1e6, abs=r.spectrum.resolution_hz)
    with pytest.raises(AnalysisError, match="ADC limits"):
        analyze_rail(v_screen, 1 / FS_HZ, adc_limits_v=(0.99, 1.004), on_clip="raise")
    bound = analyze_rail(v_screen, 1 / FS_HZ, adc_limits_v=(0.99, 1.004), on_clip="measure")
    assert bound.ripple_pp_v < 10e-3          # measured anyway: only a lower bound
    unclipped = analyze_rail(v, 1 / FS_HZ, adc_limits_v=(0.9, 1.1))
    assert not unclipped.clipped


def test_nan_holes_are_skipped_and_statistics_hold_over_samples_present():
    v = 1.0 + sine(10e-3, 1e6)
    holed = v.copy()
    holed[1000:1100] = np.nan                 # a hole of 100 samples
    holed[50_000::7919] = np.nan              # and scattered dropped samples
    r = analyze_rail(holed, 1 / FS_HZ, nominal_v=1.0)
    full = analyze_rail(v, 1 / FS_HZ, nominal_v=1.0)
    assert r.missing_samples == int(np.isnan(holed).sum())
    assert r.rail_dc_v == pytest.approx(np.nanmean(holed), abs=1e-12)
    assert r.noise_rms_v == pytest.approx(full.noise_rms_v, rel=1e-3)
    assert r.ripple_pp_v == pytest.approx(full.ripple_pp_v, rel=1e-3)
    assert np.isfinite(r.switching_freq_hz)


def test_bad_parameters_raise_usage_errors():
    with pytest.raises(UsageError, match="on_clip"):
        analyze_rail(np.ones(100), 1e-9, on_clip="ignore")
    with pytest.raises(UsageError, match="dt_s"):
        analyze_rail(np.ones(100), 0.0)
    with pytest.raises(AnalysisError, match="no valid sample"):
        analyze_rail(np.full(100, np.nan), 1e-9)
