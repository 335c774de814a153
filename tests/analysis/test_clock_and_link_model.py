"""Clock recovery options and the simulated transmitter's building blocks."""
from __future__ import annotations

import numpy as np
import pytest

from labbench.analysis.clock import recover_clock
from labbench.analysis.edges import find_edges
from labbench.analysis.jitter import jitter_metrics
from labbench.instruments.sim.serial_link import PRBS_TAPS, SerialLink, SerialWaveform, prbs_bits, render_record

from conftest import shared_file

DT = 12.5e-12


def _edges(link: SerialLink, n: int = 1_000_000, fir=None, seed: int = 2):
    rng = np.random.default_rng(seed)
    wave = SerialWaveform.generate(link, (n + 64) * DT, rng, fir=fir, front_end_bandwidth_hz=33e9)
    v = render_record(wave, 0.0, DT, n, rng)
    return find_edges(v, 0.0, DT)


@pytest.mark.parametrize("pattern", ["PRBS7", "PRBS15", "PRBS31"])
def test_prbs_has_its_period_and_balance(pattern):
    p, _ = PRBS_TAPS[pattern]
    period = (1 << p) - 1
    n = min(period, 200_000)
    bits = prbs_bits(pattern, n + 1000)
    if period <= 200_000:
        assert np.array_equal(bits[:1000], bits[period:period + 1000])
        assert bits[:period].sum() == (period + 1) // 2          # one more 1 than 0 per period
    # the longest run of ones is p (maximal-length sequence property); in a part of PRBS31, at most p
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, bits[:n], 0])))[::2]
    if period <= 200_000:
        assert runs.max() == p
    else:
        assert runs.max() <= p and abs(bits[:n].mean() - 0.5) < 0.01


def test_pll_tracks_jitter_below_its_bandwidth_and_passes_jitter_above_it():
    slow = SerialLink(pj_pp_s=20e-12, pj_freq_hz=0.3e6, rj_rms_s=0.2e-12)
    fast = SerialLink(pj_pp_s=20e-12, pj_freq_hz=60e6, rj_rms_s=0.2e-12)
    for link, tracked in ((slow, True), (fast, False)):
        edges = _edges(link)
        constant = jitter_metrics(edges, recover_clock(edges.times_s, 10.3125e9), 1e-12)
        pll = jitter_metrics(edges, recover_clock(edges.times_s, 10.3125e9, "pll", loop_bandwidth_hz=4e6), 1e-12)
        assert constant.tie_rms_s == pytest.approx(20e-12 / 2 / np.sqrt(2), rel=0.1)   # sine rms
        if tracked:   # 0.3 MHz through a 4 MHz first-order loop: |H_jitter| = f/sqrt(f^2+fc^2) ~ 0.075
            assert pll.tie_rms_s < 0.15 * constant.tie_rms_s
        else:         # 60 MHz: the loop cannot follow
            assert pll.tie_rms_s == pytest.approx(constant.tie_rms_s, rel=0.1)


def test_unknown_clock_method_is_refused():
    edges = _edges(SerialLink(), n=50_000)
    with pytest.raises(Exception, match="constant' or 'pll'"):
        recover_clock(edges.times_s, 10.3125e9, "psychic")


def test_cable_isi_adds_data_dependent_jitter_and_closes_the_eye():
    from labbench.fileformats.touchstone import impulse_response, load_differential_thru

    cable = shared_file("CABLE1_TX_pair.s4p")
    fir = impulse_response(load_differential_thru(cable, thru_pairs=((1, 2), (3, 4))), DT)
    clean = jitter_metrics(e := _edges(SerialLink(rj_rms_s=0.2e-12), n=400_000), recover_clock(e.times_s, 10.3125e9))
    edges = _edges(SerialLink(rj_rms_s=0.2e-12), n=400_000, fir=fir)
    through = jitter_metrics(edges, recover_clock(edges.times_s, 10.3125e9))
    # -13 dB at 10 GHz: strong ISI, found as data-dependent jitter by pattern averaging, not as RJ
    assert through.ddj_pp_s > 5e-12 > clean.ddj_pp_s
    assert through.rj_rms_s < 0.6e-12
    assert through.tj_s > clean.tj_s + 3e-12
