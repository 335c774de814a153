"""Known answers for DFS: radar tables (standards.md §1, §7.5), pulse analysis, classification, timing."""

import math
import zlib

import numpy as np
import pytest

from labbench.analysis.dfs import (
    SegmentFinder, analyze_radar_capture, burst_parameters, classify_radar, dfs_timing, dfs_timing_from_trace,
    find_segments, render_zero_span_dbm, split_radar_dut,
)
from labbench.analysis.radar_tables import (
    DFS_TIMING, W53_CHANNELS, W56_CHANNELS, cac_time_s, channel_center_hz, check_channel, draw_burst,
    etsi_detection_threshold_dbm, fcc_detection_threshold_dbm, fcc_type1_pulses, is_weather_channel,
    radar_type, radar_types,
)
from labbench.errors import UsageError

US = 1e-6
NOISE_DBM = -90.0
RADAR_DBM = -63.0   # threshold −64 dBm + 1 dB
DUT_DBM = -30.0


# ---- tables ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("pri_us, pulses", [(518, 102), (3066, 18), (1428, 37)])
def test_fcc_type1_pulse_count(pri_us, pulses):
    assert fcc_type1_pulses(pri_us * US) == pulses


def test_fcc_type1_draw_uses_the_formula():
    b = draw_burst(radar_type("FCC", "1"), np.random.default_rng(2))
    assert b.pulses_per_burst == fcc_type1_pulses(b.pris_s[0]) == b.start_s.size
    assert 518 * US <= b.pris_s[0] <= 3066 * US and round(b.pris_s[0] / US, 6).is_integer()


@pytest.mark.parametrize("psd_dbm_mhz, gain_dbi, expected_dbm", [
    (13.0, 0.0, -64.0),   # −62 + 10 − 13 = −65, clamped (§7.5)
    (10.0, 0.0, -62.0), (5.0, 0.0, -57.0), (20.0, 0.0, -64.0), (13.0, 3.0, -61.0),
])
def test_etsi_threshold_never_below_minus_64_at_0_dbi(psd_dbm_mhz, gain_dbi, expected_dbm):
    assert etsi_detection_threshold_dbm(psd_dbm_mhz, gain_dbi) == pytest.approx(expected_dbm)


def test_fcc_thresholds():
    assert fcc_detection_threshold_dbm(30.0) == -64.0
    assert fcc_detection_threshold_dbm(20.0, psd_dbm_mhz=5.0) == -62.0
    assert fcc_detection_threshold_dbm(20.0, psd_dbm_mhz=11.0) == -64.0
    with pytest.raises(UsageError, match="psd"):
        fcc_detection_threshold_dbm(20.0)


def test_channel_plans_and_weather_channels():
    assert W53_CHANNELS == (52, 56, 60, 64)
    assert W56_CHANNELS == (100, 104, 108, 112, 116, 120, 124, 128, 132, 136, 140, 144)
    assert channel_center_hz(52) == 5260e6 and channel_center_hz(144) == 5720e6
    assert [c for c in W56_CHANNELS if is_weather_channel(c)] == [120, 124, 128]
    assert cac_time_s("ETSI", 124) == 600.0 and cac_time_s("ETSI", 100) == 60.0 and cac_time_s("FCC", 124) == 60.0


def test_timing_table():
    assert DFS_TIMING["FCC"].closing_free_window_s == 0.2 and DFS_TIMING["FCC"].closing_tx_limit_s == 0.06
    assert DFS_TIMING["ETSI"].closing_tx_limit_s == 1.0 and DFS_TIMING["MIC"].closing_tx_limit_s == 0.26
    assert all(t.channel_move_time_s == 10.0 and t.non_occupancy_s == 1800.0 for t in DFS_TIMING.values())


def test_bad_channel_domain_and_type_are_usage_errors_listing_valid_values():
    with pytest.raises(UsageError, match="52, 56, 60, 64"):
        check_channel("W53", 36)
    with pytest.raises(UsageError, match="FCC, ETSI, MIC"):
        radar_types("KCC")
    with pytest.raises(UsageError, match="valid: 0, 1"):
        radar_type("FCC", "9")


def test_reference_signals_from_section_7_5():
    t0, t6, e0 = radar_type("FCC", "0"), radar_type("FCC", "6"), radar_type("ETSI", "0")
    assert (t0.pulse_width_s, t0.pri_s, t0.pulses_per_burst) == ((1 * US, 1 * US), (1428 * US, 1428 * US), (18, 18))
    assert (t6.pulse_width_s[0], t6.pri_s[0], t6.pulses_per_burst[0]) == (1 * US, 333 * US, 9)
    assert e0.pri_s[0] == pytest.approx(1 / 700) and e0.pulses_per_burst == (18, 18)


# ---- synthesized captures ------------------------------------------------------------------------

def _capture(burst, dt_s, pad_s=200 * US, rng=None):
    n = int((burst.end_s + pad_s) / dt_s)
    return render_zero_span_dbm(n, dt_s, start_s=burst.start_s, end_s=burst.start_s + burst.width_s,
                                level_dbm=RADAR_DBM, noise_floor_dbm=NOISE_DBM, rng=rng), n * dt_s


# Draws of W53 variable 4 and chirp 6 land inside the narrower variable 3 / chirp 5 box ~18 % of the
# time (the tables overlap there, and the more specific type is named); take widths beyond 5 us.
_OVERRIDES = {"W53-variable-4": dict(pulse_width_s=9 * US), "W53-chirp-6": dict(pulse_width_s=9 * US)}
ALL = [t for d in ("FCC", "ETSI", "MIC") for t in radar_types(d)]


@pytest.mark.parametrize("radar", ALL, ids=[t.key for t in ALL])
def test_each_radar_type_is_classified_from_a_noisy_capture(radar):
    rng = np.random.default_rng(zlib.crc32(radar.key.encode()))  # stable per type
    burst = draw_burst(radar, rng, t0_s=100 * US, channel_hz=5500e6 if radar.hopping else None,
                       **_OVERRIDES.get(radar.name, {}))
    dt = 4 * US if radar.bursts[1] > 1 else 0.1 * US  # long-pulse bursts span 12 s: 4 us is enough
    trace, observed = _capture(burst, dt, rng=rng)
    params = burst_parameters(find_segments(trace, dt), observed_s=observed)
    match = classify_radar(params, radar.domain, radar.band)
    assert match.best is radar, (match.best_key, [c.radar.key for c in match.candidates])


def test_identical_signals_across_domains_are_all_candidates():
    burst = draw_burst(radar_type("ETSI", "0"), np.random.default_rng(1), t0_s=100 * US)
    trace, _ = _capture(burst, 0.1 * US, rng=np.random.default_rng(2))
    keys = {c.radar.key for c in classify_radar(burst_parameters(find_segments(trace, 0.1 * US))).candidates}
    assert {"FCC-0", "ETSI-0", "MIC-W56-fixed-2"} <= keys


def test_signal_outside_every_table_is_unknown_with_reasons():
    # FCC type 2 widths and PRI but 40 pulses: no FCC type has that many at 200 us
    burst = draw_burst(radar_type("FCC", "2"), np.random.default_rng(13), t0_s=100 * US, pri_s=200 * US, pulses=40)
    trace, _ = _capture(burst, 0.1 * US, rng=np.random.default_rng(14))
    match = classify_radar(burst_parameters(find_segments(trace, 0.1 * US)), "FCC")
    assert match.best is None and match.best_key == "unknown" and match.candidates == ()
    assert match.rejected[0].radar.name == "2" and match.rejected[0].reasons == ("pulse count",)


def test_width_pri_and_count_of_fcc_type_3():
    burst = draw_burst(radar_type("FCC", "3"), np.random.default_rng(3), t0_s=123.45 * US,
                       pulse_width_s=8.0 * US, pri_s=300.0 * US, pulses=17)
    trace, _ = _capture(burst, 0.1 * US, rng=np.random.default_rng(4))
    p = burst_parameters(find_segments(trace, 0.1 * US))
    # Half-peak edges interpolated in mW: width within 0.2 samples; PRI from 16 intervals better still.
    assert p.pulse_width_s == pytest.approx(8.0 * US, abs=0.02 * US)
    assert p.pri_s == pytest.approx(300.0 * US, abs=0.02 * US)
    assert p.pulse_count == 17 and not p.staggered and not p.paired


def test_pulses_hidden_under_dut_frames_are_counted_back():
    # FCC type 1 at PRI 700 us: N = 76 pulses; a −30 dBm DUT frame covers 3 pulses in mid-burst
    radar = radar_type("FCC", "1")
    burst = draw_burst(radar, np.random.default_rng(5), t0_s=100 * US, pri_s=700 * US)
    assert burst.start_s.size == 76
    frame = (burst.start_s[30] - 50 * US, burst.start_s[32] + 60 * US)
    n = int((burst.end_s + 200 * US) / (0.1 * US))
    tr = render_zero_span_dbm(n, 0.1 * US, start_s=np.append(burst.start_s, frame[0]),
                              end_s=np.append(burst.start_s + burst.width_s, frame[1]),
                              level_dbm=np.append(np.full(76, RADAR_DBM), DUT_DBM), noise_floor_dbm=NOISE_DBM,
                              rng=np.random.default_rng(6))
    radar_pulses, dut = split_radar_dut(find_segments(tr, 0.1 * US), radar_level_dbm=RADAR_DBM)
    p = burst_parameters(radar_pulses)
    assert len(dut) == 1 and p.pulse_count == 73 and p.missing_pulses == 3 and p.regular
    assert classify_radar(p, "FCC").best is radar
    # the same in one call, as a procedure does it
    match = analyze_radar_capture(tr, 0.1 * US, domain="FCC", radar_level_dbm=RADAR_DBM)
    assert match.best_key == "FCC-1" and match.burst.pri_s == pytest.approx(700 * US, abs=0.05 * US)
    assert match.burst.last_pulse_end_s == pytest.approx(burst.end_s, abs=0.05 * US)


def test_staggered_pris_are_recovered():
    burst = draw_burst(radar_type("ETSI", "6"), np.random.default_rng(8), t0_s=50 * US)
    trace, _ = _capture(burst, 0.1 * US, rng=np.random.default_rng(9))
    p = burst_parameters(find_segments(trace, 0.1 * US))
    assert p.staggered and len(p.pris_s) == len(burst.pris_s)
    np.testing.assert_allclose(p.pris_s, sorted(burst.pris_s), atol=0.05 * US)


def test_hopping_radar_shows_runs_of_nine_pulses():
    burst = draw_burst(radar_type("FCC", "6"), np.random.default_rng(11), channel_hz=5300e6)
    assert burst.start_s.size % 9 == 0 and burst.params["hops_in_channel"] >= 1
    trace, _ = _capture(burst, 0.1 * US, rng=np.random.default_rng(12))
    p = burst_parameters(find_segments(trace, 0.1 * US))
    assert all(r % 9 == 0 for r in p.run_lengths) and p.pri_s == pytest.approx(333 * US, abs=0.05 * US)


def test_pulse_width_is_unbiased_for_sub_sample_edges():
    # 1 us pulses at 0.25 us sampling, edges at every fraction of a sample
    starts = 10 * US + np.arange(40) * 37.3 * US + np.linspace(0, 0.25 * US, 40, endpoint=False)
    tr = render_zero_span_dbm(8000, 0.25 * US, start_s=starts, end_s=starts + 1 * US, level_dbm=-60,
                              noise_floor_dbm=-100)
    seg = find_segments(tr, 0.25 * US)
    assert len(seg) == 40
    # linear interpolation of an integrate-and-dump edge errs by at most ~0.09 sample per edge
    assert np.max(np.abs(seg.width_s - 1 * US)) < 0.05 * US


def test_chunked_segments_equal_one_shot():
    rng = np.random.default_rng(21)
    dt = 1 * US
    starts = np.sort(rng.uniform(0, 0.2, 300))
    ends = starts + rng.choice([2 * US, 50 * US, 3e-3], 300)
    tr = render_zero_span_dbm(200_500, dt, start_s=starts, end_s=ends, level_dbm=-40, noise_floor_dbm=-90,
                              rng=rng)
    tr[-3:] = -40.0  # a run still open at the end
    whole = find_segments(tr, dt, threshold_dbm=-70.0)
    f = SegmentFinder(dt, -70.0)
    for part in np.array_split(tr, 37):
        f.add(part)
    chunked = f.finish()
    assert len(chunked) == len(whole)
    for name in ("start_s", "end_s", "width_s", "pulse_start_s", "peak_dbm", "censored"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=0, atol=1e-12, err_msg=name)
    assert whole.censored[-1] and not whole.censored[0]


def test_split_by_level_and_by_duration():
    dt = 0.25 * US  # fine enough that a 1 us pulse reaches its full level
    starts = np.array([100, 200, 700, 900]) * US
    ends = starts + np.array([1, 400, 80, 2]) * US
    levels = np.array([RADAR_DBM, DUT_DBM, RADAR_DBM, DUT_DBM])
    seg = find_segments(render_zero_span_dbm(4800, dt, start_s=starts, end_s=ends, level_dbm=levels,
                                             noise_floor_dbm=NOISE_DBM), dt)
    radar, dut = split_radar_dut(seg, radar_level_dbm=RADAR_DBM)
    assert len(radar) == 2 and len(dut) == 2                      # the 80 us radar pulse is radar by level
    radar, dut = split_radar_dut(seg, dut_min_frame_s=20 * US)
    assert len(radar) == 2 and np.allclose(radar.start_s, [100 * US, 900 * US], atol=dt)  # by duration only


# ---- DFS timing ---------------------------------------------------------------------------------------

def _scenario(*, tx_during_cac_s=None, last_tx_after_radar_s=3.0, dt_s=50 * US, detector="peak", n=None,
              rng_seed=5):
    """Channel selected at 0 s; DUT silent for the CAC, then 1 ms frames every 4 ms from 61 s at −30 dBm;
    an ETSI reference radar burst at 62 s at −63 dBm; the DUT goes on for 50 ms after the burst, then
    sends three 0.5 ms frames at +1, +2 and last_tx_after_radar_s, and stays silent. Trace −1..75 s,
    peak detector (an averaging one dilutes 1 us pulses in 50 us bins by 17 dB)."""
    rng = np.random.default_rng(rng_seed)
    burst = draw_burst(radar_type("ETSI", "0"), rng, t0_s=62.0)
    radar_end = burst.end_s
    frames = np.arange(61.0, radar_end + 0.050, 4e-3)
    extra = radar_end + np.array([1.0, 2.0, last_tx_after_radar_s])
    f_start = np.concatenate((frames, extra))
    f_end = np.concatenate((frames + 1e-3, extra + 0.5e-3))
    if tx_during_cac_s is not None:
        f_start, f_end = np.append(f_start, tx_during_cac_s), np.append(f_end, tx_during_cac_s + 1e-3)
    t0 = -1.0
    n = n or int(76.0 / dt_s)
    dt_s = 76.0 / n
    tr = render_zero_span_dbm(n, dt_s, t0_s=t0, start_s=np.concatenate((f_start, burst.start_s)),
                              end_s=np.concatenate((f_end, burst.start_s + burst.width_s)),
                              level_dbm=np.concatenate((np.full(f_start.size, DUT_DBM),
                                                        np.full(burst.start_s.size, RADAR_DBM))),
                              noise_floor_dbm=NOISE_DBM, detector=detector, rng=rng)
    truth = dict(radar_end=radar_end, f_start=f_start, f_end=f_end, dt=dt_s, t0=t0, burst=burst)
    return tr, truth


def _timing(tr, truth, domain="FCC"):
    seg = find_segments(tr, truth["dt"], t0_s=truth["t0"])
    radar, dut = split_radar_dut(seg, radar_level_dbm=RADAR_DBM, radar_window_s=(62.0, 62.0 + 0.1))
    # Radar pulses under a DUT frame read at the DUT's level and are lost to the radar (conservative);
    # the radar end is the injected burst's end, known to the procedure.
    timing = dfs_timing(dut, channel_selected_s=0.0, radar_end_s=truth["radar_end"], trace_end_s=75.0,
                        domain=domain)
    return timing, radar


def test_dfs_timing_known_answers_on_a_fine_trace():
    tr, truth = _scenario()
    timing, radar = _timing(tr, truth)
    dt, re_ = truth["dt"], truth["radar_end"]
    assert 9 <= len(radar) <= 18  # ~25 % of the 18 pulses fall under DUT frames
    assert float(np.max(radar.end_s)) <= re_ + dt
    assert timing.cac_silence_s == pytest.approx(61.0, abs=dt)
    assert timing.channel_move_time_s == pytest.approx(3.0005, abs=2 * dt)
    fs, fe = truth["f_start"], truth["f_end"]
    total = np.sum(np.clip(np.minimum(fe, re_ + 10) - np.maximum(fs, re_), 0, None))
    # peak detection widens each of the 16 frames by up to 2 bins (a bin touched at each end)
    assert total <= timing.closing_tx_total_s <= total + 16 * 2 * dt
    # FCC counts after the first 200 ms: the three 0.5 ms frames, each widened by up to 2 bins
    assert 1.5e-3 <= timing.closing_tx_time_s <= 1.5e-3 + 3 * 2 * dt
    assert timing.nop_tx_count == 0 and not timing.nop_violation
    assert timing.nop_observed_s == pytest.approx(75.0 - re_ - 10.0, abs=1e-9)


def test_one_call_timing_equals_the_steps():
    tr, truth = _scenario()
    steps, _ = _timing(tr, truth)
    one = dfs_timing_from_trace(tr, truth["dt"], t0_s=truth["t0"], channel_selected_s=0.0,
                                radar_end_s=truth["radar_end"], radar_level_dbm=RADAR_DBM,
                                radar_window_s=(62.0, 62.1))
    assert one.cac_silence_s == steps.cac_silence_s and one.closing_tx_time_s == steps.closing_tx_time_s
    assert one.channel_move_time_s == steps.channel_move_time_s
    assert one.nop_observed_s == pytest.approx(steps.nop_observed_s, abs=1.01 * truth["dt"])  # ends at the last sample


def test_etsi_counts_the_whole_closing_aggregate():
    tr, truth = _scenario()
    fcc, _ = _timing(tr, truth, "FCC")
    etsi, _ = _timing(tr, truth, "ETSI")
    assert etsi.closing_tx_time_s == etsi.closing_tx_total_s == fcc.closing_tx_total_s
    assert etsi.closing_tx_time_s > fcc.closing_tx_time_s


def test_transmission_during_cac_is_caught():
    tr, truth = _scenario(tx_during_cac_s=30.0)
    timing, _ = _timing(tr, truth)
    assert timing.cac_silence_s == pytest.approx(30.0, abs=truth["dt"])


def test_late_move_breaks_move_time_and_non_occupancy():
    tr, truth = _scenario(last_tx_after_radar_s=11.0)  # last frame 11 s after the radar
    timing, _ = _timing(tr, truth)
    assert timing.channel_move_time_s == pytest.approx(11.0005, abs=2 * truth["dt"])
    assert timing.nop_tx_count == 1 and timing.nop_violation


def test_burst_level_trace_of_20001_points_with_peak_detector():
    # what the analyzer gives for a 76 s zero span: 3.8 ms per point, peak detector
    tr, truth = _scenario(n=20001, detector="peak")
    timing, radar = _timing(tr, truth)
    dt = truth["dt"]
    assert timing.cac_silence_s == pytest.approx(61.0, abs=dt)
    assert timing.channel_move_time_s == pytest.approx(3.0005, abs=2 * dt)
    # peak detection stretches each 0.5 ms frame to about one bin: N bins × dwell (FCC method)
    assert 1.5e-3 <= timing.closing_tx_time_s <= 3 * 2 * dt
    assert timing.nop_tx_count == 0


def test_no_transmission_at_all_gives_observed_time_as_lower_bound():
    empty = find_segments(np.full(1000, NOISE_DBM), 1e-3, threshold_dbm=-75.0)
    t = dfs_timing(empty, channel_selected_s=0.0, radar_end_s=0.5, trace_end_s=1.0)
    assert not t.dut_transmitted and t.cac_silence_s == 1.0 and math.isnan(t.first_tx_s)
    assert t.channel_move_time_s == 0.0 and t.closing_tx_time_s == 0.0
