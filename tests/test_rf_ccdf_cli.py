"""`labbench run ccdf` end to end: the analyzer's power statistics and labbench's CCDF of zero-span samples
of the same simulated OFDM transmitter, both stored and required to agree."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from conftest import PROFILES, labbench_cli
from labbench.errors import AnalysisError
from labbench.procedure import parse_params
from labbench.procedures.ccdf import RfCcdf, ccdf_of_dbm
from labbench.store import read_captures, read_step

METRICS = ["avg_power_dbm", "ccdf_10pct_db", "ccdf_1pct_db", "ccdf_0p1pct_db", "ccdf_0p01pct_db", "papr_db"]
STEP = "01_ccdf"


labbench = labbench_cli   # the CLI in a subprocess (tests/conftest.py)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    summary = out / "S.json"
    t0 = time.perf_counter()
    proc = labbench("run", "ccdf", "--out", out, "--json", summary, data_dir=out / "data")
    return proc, json.loads(summary.read_text()), time.perf_counter() - t0


def test_default_profile_passes_with_every_metric_in_seconds(default_run):
    proc, summary, wall_s = default_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary["verdict"] == "PASS" and summary["steps"][0]["procedure"] == "ccdf"
    assert [m["name"] for m in summary["steps"][0]["metrics"]] == METRICS
    assert all(m["value"] is not None and m["verdict"] == "PASS" for m in summary["steps"][0]["metrics"])
    assert wall_s < 12.0


def test_ofdm_levels_sit_near_the_complex_gaussian_reference(default_run):
    # standards.md §3: 802.11 OFDM is close to Gaussian (3.62 / 6.63 / 8.39 / 9.64 dB); an 8 MHz slice of
    # 16-QAM on 52 subcarriers falls a little short in the far tail. avg: 16 dBm x 8.5 MHz / 16.5 MHz.
    m = {x["name"]: x["value"] for x in default_run[1]["steps"][0]["metrics"]}
    assert m["ccdf_10pct_db"] == pytest.approx(3.62, abs=0.15)
    assert m["ccdf_1pct_db"] == pytest.approx(6.63, abs=0.2)
    assert m["ccdf_0p1pct_db"] == pytest.approx(8.39, abs=0.3)
    assert m["ccdf_0p01pct_db"] == pytest.approx(9.64, abs=0.5)
    assert m["avg_power_dbm"] == pytest.approx(16.0 + 10 * math.log10(8.5 / 16.5), abs=0.3)
    assert m["ccdf_0p01pct_db"] < m["papr_db"] < 12.5


def test_labbench_and_the_analyzer_agree_and_both_are_stored_with_the_gaussian_reference(default_run):
    with h5py.File(default_run[1]["run_file"], "r") as f:
        res = f[f"steps/{STEP}/results"]
        agreement = {k: float(v[()]) for k, v in res["agreement"].items()}
        x = res["gaussian/x_db"][()]
        gaussian = res["gaussian/probability"][()]
        analyzer_gaussian = res["analyzer/gaussian_probability"][()]
        ours, theirs = res["labbench/probability"][()], res["analyzer/probability"][()]
        samples = f[f"steps/{STEP}/captures/samples"]
        assert samples.dtype == np.float32 and samples.shape == (500_000,) and samples.attrs["y_unit"] == "dBm"
        assert f[f"steps/{STEP}/captures/analyzer_ccdf"].shape == (501,)
    tolerance = agreement.pop("tolerance_db")
    assert tolerance == 0.3
    for name, diff in agreement.items():
        assert abs(diff) <= (2 if name == "ccdf_0p01pct_db" else 1) * tolerance, name
    assert x.size == 501 and x[-1] == pytest.approx(50.0)
    np.testing.assert_allclose(gaussian, np.exp(-(10.0 ** (x / 10.0))), rtol=1e-12)
    assert gaussian[0] == pytest.approx(0.3679, abs=1e-4)                 # P(>= average) = 1/e
    np.testing.assert_allclose(analyzer_gaussian, gaussian, rtol=1e-5, atol=1e-12)
    # the two measured curves, down to 1e-3
    usable = (ours > 1e-3) & (theirs > 1e-3)
    assert np.max(np.abs(10 * np.log10(ours[usable] / theirs[usable]))) < 0.5


def test_a_disagreement_beyond_the_tolerance_stops_the_step_naming_the_level(default_run):
    captures = read_captures(default_run[1]["run_file"], STEP)
    levels = captures["analyzer_ccdf"].attrs["levels_db"]
    key = next(k for k in levels if math.isclose(float(k), 1e-3))
    levels[key] += 0.5                                                     # the analyzer now says 0.5 dB more
    with pytest.raises(AnalysisError) as err:
        RfCcdf().analyze(captures, parse_params(RfCcdf, {}))
    text = str(err.value)
    assert "ccdf_0p1pct_db" in text and "tolerance 0.3 dB" in text and "ccdf_1pct_db" not in text
    # a wider stated tolerance accepts it
    assert RfCcdf().analyze(captures, parse_params(RfCcdf, {"tolerance_db": "0.6"})).metrics


def test_figures_show_both_curves_and_the_reference(default_run):
    figures = RfCcdf().figures(read_step(default_run[1]["run_file"], STEP))
    assert [title for title, _ in figures] == ["CCDF"]
    labels = {line.get_label() for line in figures[0][1].axes[0].get_lines()}
    assert labels >= {"labbench (zero span)", "analyzer (PSTatistic)", "reference"}


def test_ccdf_of_dbm_samples_gives_the_complex_gaussian_known_answers_and_the_exact_average():
    # 2e6 exponential powers (complex Gaussian noise) in dBm around +13 dBm: standards.md §7.4 levels;
    # the average from the counts against the sample-by-sample mean in watts
    rng = np.random.default_rng(4)
    power_mw = rng.exponential(20.0, 2_000_000)
    dbm = (10 * np.log10(power_mw)).astype(np.float32)
    result = ccdf_of_dbm(dbm)
    exact_mean_dbm = 10 * np.log10(np.mean(10 ** (dbm.astype(np.float64) / 10)))
    assert result.avg_power_dbm == pytest.approx(exact_mean_dbm, abs=0.005)
    assert result.ccdf_10pct_db == pytest.approx(3.622, abs=0.03)
    assert result.ccdf_1pct_db == pytest.approx(6.632, abs=0.06)
    assert result.ccdf_0p1pct_db == pytest.approx(8.393, abs=0.15)     # 2000 samples above: ~0.05 dB rms
    assert result.prob_at_avg == pytest.approx(math.exp(-1), abs=0.002)
    assert result.papr_db == pytest.approx(float(dbm.max()) - exact_mean_dbm, abs=0.005)
    assert math.isfinite(result.ccdf_0p0001pct_db)                      # 1e-6 of 2e6: the 2nd largest sample
    assert math.isnan(ccdf_of_dbm(dbm[:500_000]).ccdf_0p0001pct_db)    # half a sample: too short to say
    assert result.sample_count == 2_000_000


@pytest.mark.slow
def test_fault_mask_profile_clips_the_peaks_and_fails_the_levels(tmp_path):
    """The compressed PA of fault-mask.toml also clips the waveform: the curve moves left of the limits."""
    summary = tmp_path / "S.json"
    proc = labbench("run", "ccdf", "--out", tmp_path, "--json", summary, "--dut-profile",
                    PROFILES / "fault-mask.toml", data_dir=tmp_path / "data")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failed = {m["name"] for m in json.loads(summary.read_text())["steps"][0]["metrics"] if m["verdict"] == "FAIL"}
    assert {"ccdf_0p1pct_db", "ccdf_0p01pct_db"} <= failed
