"""Known answers for eye and jitter analysis: signals with stated parameters, recovered within
stated tolerances (standards.md §2 and §7.1-7.3)."""
from __future__ import annotations

import numpy as np
import pytest

from labbench.analysis.clock import recover_clock
from labbench.analysis.edges import Levels, find_edges
from labbench.analysis.eye import eye_diagram, transition_times
from labbench.analysis.jitter import jitter_metrics, q_ber, tj_from_tails
from labbench.instruments.sim.serial_link import SerialLink, SerialWaveform, render_record

DT = 12.5e-12          # 80 GSa/s: 7.757 samples per UI at 10.3125 Gb/s, not a whole number
RATE = 10.3125e9


def analyse(link: SerialLink, n: int = 1_000_000, dt: float = DT, seed: int = 3, nominal=RATE,
            bandwidth_hz: float | None = 33e9):
    rng = np.random.default_rng(seed)
    wave = SerialWaveform.generate(link, (n + 64) * dt, rng, front_end_bandwidth_hz=bandwidth_hz)
    v = render_record(wave, 0.0, dt, n, rng)
    edges = find_edges(v, 0.0, dt)
    clock = recover_clock(edges.times_s, nominal)
    jitter = jitter_metrics(edges, clock, 1e-12)
    eye = eye_diagram(v, 0.0, dt, clock, edges, jitter.tie_rms_s)
    tt = transition_times(v, 0.0, dt, edges, Levels(eye.one_mean_v, eye.zero_mean_v), clock.ui_s)
    return wave, clock, jitter, eye, tt


def test_q_ber_matches_the_published_table():
    for ber, q in [(1e-3, 3.0902), (1e-6, 4.7534), (1e-9, 5.9978), (1e-12, 7.0345), (1e-15, 7.9413)]:
        assert q_ber(ber) == pytest.approx(q, abs=1e-4)


def test_tj_tail_of_sinusoidal_pj_with_gaussian_rj_is_23_3_ps():
    # §7.2: sinusoidal 10 ps pk-pk with RJ 1 ps: exact per-side tail at 1e-12 -> 23.300 ps
    phase = np.linspace(0, 2 * np.pi, 20001)[:-1]
    assert tj_from_tails(5e-12 * np.sin(phase), 1e-12, 1e-12) == pytest.approx(23.300e-12, abs=0.01e-12)
    # §7.1: two Diracs 10 ps apart with RJ 1 ps: each tail holds half the edges, so the exact tail
    # is the rho_T = 0.5 value 23.874 ps (the formula DJ + 2 Q RJ gives 24.069 ps); RJ only: 14.069 ps
    assert tj_from_tails(np.r_[np.full(500, -5e-12), np.full(500, 5e-12)], 1e-12, 1e-12) == pytest.approx(23.874e-12, abs=0.01e-12)
    assert tj_from_tails(np.zeros(10), 1e-12, 1e-12) == pytest.approx(14.069e-12, abs=0.01e-12)


def test_rj_one_ps_alone_is_recovered_within_10_percent():
    _, _, jitter, _, _ = analyse(SerialLink(rj_rms_s=1e-12))
    assert jitter.rj_rms_s == pytest.approx(1e-12, rel=0.10)
    assert jitter.tj_s == pytest.approx(14.069e-12, rel=0.10)


def test_pj_10ps_plus_rj_1ps_gives_tj_within_10_percent_of_23_3_ps():
    _, _, jitter, _, _ = analyse(SerialLink(rj_rms_s=1e-12, pj_pp_s=10e-12, pj_freq_hz=1.7e6))
    assert jitter.tj_s == pytest.approx(23.3e-12, rel=0.10)
    assert jitter.dj_dd_s == pytest.approx(9.231e-12, rel=0.10)
    assert jitter.rj_rms_s == pytest.approx(1e-12, rel=0.10)
    assert any(abs(t.frequency_hz - 1.7e6) < 0.05e6 and abs(t.amplitude_pp_s - 10e-12) < 0.5e-12 for t in jitter.pj_tones)


def test_independent_tie_gives_period_sqrt2_and_c2c_sqrt6():
    # §7.3: independent Gaussian TIE sigma 1 ps -> period 1.414 ps, c2c 2.449 ps (within 5 %)
    _, _, jitter, _, _ = analyse(SerialLink(rj_rms_s=1e-12))
    assert jitter.period_jitter_rms_s == pytest.approx(1.414e-12, rel=0.05)
    assert jitter.c2c_jitter_rms_s == pytest.approx(2.449e-12, rel=0.05)


def test_bit_rate_is_recovered_within_one_ppm():
    link = SerialLink(rate_offset_ppm=37.0, rj_rms_s=0.5e-12, noise_rms_v=1e-3)
    _, clock, _, _, _ = analyse(link)
    assert (clock.rate_bps / link.actual_rate_bps - 1) * 1e6 == pytest.approx(0.0, abs=1.0)
    assert (clock.rate_bps / RATE - 1) * 1e6 == pytest.approx(37.0, abs=1.0)


def test_rate_is_found_without_a_nominal_rate():
    link = SerialLink(rate_offset_ppm=-250.0, rj_rms_s=0.3e-12)
    _, clock, _, _, _ = analyse(link, nominal=None, n=300_000)
    assert (clock.rate_bps / link.actual_rate_bps - 1) * 1e6 == pytest.approx(0.0, abs=2.0)


def test_eye_height_of_a_noiseless_signal_is_its_amplitude_within_2_percent():
    _, _, _, eye, _ = analyse(SerialLink(amplitude_v=0.4), n=300_000)
    assert eye.eye_height_v == pytest.approx(0.4, rel=0.02)
    assert eye.eye_width_ui == pytest.approx(1.0, abs=0.02)


def test_eye_height_follows_vertical_noise():
    # (mu1 - 3 sigma) - (mu0 + 3 sigma) = A - 6 sigma_v for Gaussian vertical noise
    _, _, _, eye, _ = analyse(SerialLink(amplitude_v=0.4, noise_rms_v=5e-3), n=300_000)
    assert eye.eye_height_v == pytest.approx(0.4 - 6 * 5e-3, abs=0.006)


def test_rise_time_of_a_gaussian_edge_is_recovered():
    # 24 ps transmitter edge through a Gaussian 33 GHz front end: 10-90 = 2.563 sigma_total
    sigma = np.hypot(24e-12 / 2.563, np.sqrt(np.log(2)) / (2 * np.pi * 33e9))
    _, _, _, _, tt = analyse(SerialLink(rise_time_s=24e-12), n=300_000)
    assert tt.rise_10_90_s == pytest.approx(2.563 * sigma, rel=0.02)
    assert tt.rise_20_80_s == pytest.approx(1.683 * sigma, rel=0.02)
    assert tt.fall_10_90_s == pytest.approx(2.563 * sigma, rel=0.02)


def test_dcd_is_measured():
    _, _, jitter, _, _ = analyse(SerialLink(dcd_s=2e-12, rj_rms_s=0.3e-12), n=300_000)
    assert jitter.dcd_s == pytest.approx(2e-12, abs=0.15e-12)


def test_slow_uart_like_bursts_with_fractional_gaps():
    # scopehal#1111 (kBd eyes and float time) and pyarbtools#8 (non-integer samples per bit):
    # 9600 Bd, 10-bit frames separated by idle gaps of 3.37 bits, sampled at 1 MSa/s (104.17 per bit)
    rate, dt, rng = 9600.0 * 0.99, 1e-6, np.random.default_rng(5)
    ui = 1 / rate
    frames = rng.integers(0, 256, 60)
    t, edges_t, level = 0.0, [], 1
    levels = []
    for byte in frames:
        bits = [0] + [(byte >> k) & 1 for k in range(8)] + [1]
        for b in bits:
            if b != level:
                edges_t.append(t)
                levels.append(b)
                level = b
            t += ui
        t += 3.37 * ui
    time_axis = np.arange(int(t / dt)) * dt
    idx = np.searchsorted(np.array(edges_t), time_axis, side="right")
    start_levels = np.r_[1, levels]
    v = 3.3 * start_levels[idx].astype(float) + rng.normal(0, 0.01, time_axis.size)
    edges = find_edges(v, 0.0, dt)
    clock = recover_clock(edges.times_s, 9600.0)
    assert (clock.rate_bps / 9600.0 - 1) * 1e6 == pytest.approx(-10000, abs=200)
    jitter = jitter_metrics(edges, clock)
    assert jitter.tie_rms_s < 0.02 * ui


def test_samples_outside_the_eye_range_are_counted_not_raised():
    # PyBERT#155: noise beyond the histogram range
    link = SerialLink(amplitude_v=0.4, noise_rms_v=0.08)   # 0.2 V margin = 2.5 sigma
    _, _, _, eye, _ = analyse(link, n=200_000)
    assert eye.outside > 0 and eye.histogram.sum() + eye.outside > 190_000
