"""`labbench run dfs` end to end on the simulated N9030B: the DUT's DFS timing, the radar found from the
power-vs-time trace, verdicts, usage errors and the virtual hour that passes in seconds."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import PROFILES, labbench_cli
from labbench.analysis.radar_tables import radar_types
from labbench.limits import PASS
from labbench.runner import run
from labbench.store import read_step

METRICS = ["cac_silence_s", "cac_margin_s", "channel_move_time_s", "closing_tx_time_s", "closing_tx_margin_s",
           "radar_pulses_detected", "radar_pulse_width_s", "radar_pri_s", "radar_type_match", "nop_transmissions",
           "nop_observed_s"]
DEFAULT_PROFILE = PROFILES / "default.toml"


labbench = labbench_cli   # the CLI in a subprocess (tests/conftest.py)


def profile(tmp_path: Path, name: str, dfs: str) -> Path:
    """A DUT profile on top of the default one with some [dfs] keys changed."""
    path = tmp_path / name
    path.write_text(f'base = "{DEFAULT_PROFILE}"\n\n[dfs]\n{dfs}\n')
    return path


def metrics_of(summary: dict) -> dict[str, dict]:
    return {m["name"]: m for m in summary["steps"][0]["metrics"]}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    summary = out / "S.json"
    start = time.monotonic()
    proc = labbench("run", "dfs", "--out", out, "--json", summary)
    return proc, json.loads(summary.read_text()), time.monotonic() - start


def test_default_profile_passes_with_every_metric(default_run):
    proc, summary, _ = default_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary["verdict"] == "PASS" and summary["steps"][0]["procedure"] == "dfs"
    assert [m["name"] for m in summary["steps"][0]["metrics"]] == METRICS
    assert all(m["value"] is not None for m in summary["steps"][0]["metrics"])


def test_the_hour_long_test_takes_under_a_minute_of_wall_time(default_run):
    # 60 s CAC + 5 s + radar + 12 s move watch + 30 min non-occupancy period, in virtual time
    _, summary, wall_s = default_run
    m = metrics_of(summary)
    assert m["cac_silence_s"]["value"] + m["nop_observed_s"]["value"] > 1850.0
    assert wall_s < 60.0, f"labbench run dfs took {wall_s:.1f} s of wall time"


def test_timing_known_answers_of_the_default_dut(default_run):
    # [dfs] of default.toml: first beacon 50 ms after the 60 s CAC; traffic stops 50 ms after the burst,
    # then 1 ms channel switch announcements at 0.25 ... 1.25 s. Coarse captures use a peak detector over
    # 3.2 ms (cac) and 0.6 ms (move) points, so starts read up to two points early and ends late.
    _, summary, _ = default_run
    m = {k: v["value"] for k, v in metrics_of(summary).items()}
    assert m["cac_silence_s"] == pytest.approx(60.05, abs=2 * 3.25e-3)
    assert m["cac_margin_s"] == pytest.approx(m["cac_silence_s"] - 60.0, abs=1e-9)
    # measured from the last radar pulse seen: one the DUT's frames hide at the end moves it a PRI earlier
    assert 1.251 - 0.6e-3 <= m["channel_move_time_s"] <= 1.251 + m["radar_pri_s"] + 2 * 0.6e-3
    # FCC counts after the first 200 ms: five 1 ms frames, each widened by up to two 0.6 ms points
    assert 5e-3 <= m["closing_tx_time_s"] <= 5e-3 + 5 * 2 * 0.6e-3
    assert m["closing_tx_margin_s"] == pytest.approx(0.060 - m["closing_tx_time_s"], abs=1e-9)
    assert m["nop_transmissions"] == 0 and m["nop_observed_s"] == pytest.approx(1790.0, abs=0.1)


def test_radar_is_found_from_the_trace_and_stored(default_run):
    _, summary, _ = default_run
    m = {k: v["value"] for k, v in metrics_of(summary).items()}
    assert m["radar_type_match"] == 1
    # FCC type 1: 1 us pulses; the classifier's width tolerance is 0.15 us at 0.1 us resolution
    assert m["radar_pulse_width_s"] == pytest.approx(1e-6, abs=0.15e-6)
    assert 518e-6 <= m["radar_pri_s"] <= 3066e-6
    with h5py.File(summary["run_file"], "r") as f:
        step = f["steps/01_dfs"]
        assert set(step["captures"]) == {"cac", "radar", "move", "nop"}
        radar = step["results/radar"]
        assert radar.attrs["type"] == "FCC-1" and radar.attrs["expected"] == "FCC-1"
        # pulses hidden under the DUT's frames count back: N(PRI) = ceil(19e6 / 360 / PRI_us)
        n_expected = int(np.ceil(19e6 / 360 / (m["radar_pri_s"] * 1e6) - 1e-9))
        seen = m["radar_pulses_detected"] + int(radar["missing_pulses"][()]) + int(radar["hidden_at_edges"][()])
        assert m["radar_pulses_detected"] <= n_expected <= seen
        fine = step["captures/radar"]
        assert fine.attrs["dx"] == pytest.approx(0.1e-6) and fine.shape[0] >= 20000
        assert json.loads(fine.attrs["attrs"])["sweeps"] >= 2


def test_figures_of_the_stored_step(default_run):
    _, summary, _ = default_run
    from labbench.procedures.dfs import Dfs

    step = read_step(summary["run_file"], "01_dfs")
    titles = [title for title, _ in Dfs().figures(step)]
    assert titles == ["DFS timeline", "Non-occupancy period", "Radar pulses"]


def test_fault_profile_fails_on_the_violated_metrics(tmp_path):
    summary = tmp_path / "F.json"
    proc = labbench("run", "dfs", "--out", tmp_path, "--json", summary,
                    "--dut-profile", PROFILES / "fault-dfs.toml")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    m = metrics_of(json.loads(summary.read_text()))
    failed = {name for name, v in m.items() if v["verdict"] == "FAIL"}
    assert failed == {"cac_silence_s", "cac_margin_s", "channel_move_time_s", "closing_tx_time_s",
                      "closing_tx_margin_s", "nop_transmissions"}
    assert m["cac_silence_s"]["value"] == pytest.approx(20.05, abs=0.01)        # transmits 20 s into the CAC
    assert m["channel_move_time_s"]["value"] == pytest.approx(12.0, abs=0.01)   # leaves 12 s after radar
    assert m["radar_type_match"]["verdict"] == PASS


def test_a_different_radar_than_expected_is_not_matched(tmp_path, runs_dir):
    # the test injects FCC type 0 (18 pulses at 1428 us) while the procedure expects type 1
    prof = profile(tmp_path, "fcc0.toml", 'radar_type = "0"')
    result = run("dfs", dut_profile=str(prof), out=tmp_path / "runs")
    step = result.steps[0]
    m = {x.name: x for x in step.metrics}
    assert m["radar_type_match"].value == 0 and m["radar_type_match"].verdict == "FAIL"
    assert m["radar_pri_s"].value == pytest.approx(1428e-6, abs=0.1e-6) and result.exit_code == 1
    stored = read_step(result.run_file, "01_dfs")
    assert stored.results["radar"]["type"] == "FCC-0"


def test_etsi_weather_channel_needs_ten_minutes_of_silence(tmp_path, runs_dir):
    # channel 124 (5620 MHz) overlaps 5600-5650 MHz: ETSI's CAC is 600 s (standards.md §1.2, §7.5)
    prof = profile(tmp_path, "etsi.toml", 'domain = "ETSI"\nradar_type = "0"')
    result = run("dfs", dut_profile=str(prof), out=tmp_path / "runs",
                 sets={"band": "W56", "channel": "124", "domain": "ETSI", "radar_type": "0"})
    m = {x.name: x for x in result.steps[0].metrics}
    assert result.exit_code == 0, [x.describe_failure() for x in m.values() if x.verdict == "FAIL"]
    assert m["cac_silence_s"].value == pytest.approx(600.05, abs=0.07)          # 30 ms points over 605 s
    assert 0 < m["cac_margin_s"].value < 0.1
    # ETSI counts the whole closing aggregate: the 50 ms of traffic after the burst is in it
    assert m["closing_tx_time_s"].value > 0.0125 and m["closing_tx_margin_s"].value > 0.9


def test_a_dut_that_keeps_a_60_s_cac_on_a_weather_channel_fails_only_the_margin(tmp_path, runs_dir):
    prof = profile(tmp_path, "etsi60.toml", 'domain = "ETSI"\nradar_type = "0"\ncac_s = 60.0')
    result = run("dfs", dut_profile=str(prof), out=tmp_path / "runs",
                 sets={"band": "W56", "channel": "120", "domain": "ETSI", "radar_type": "0"})
    failed = {x.name for x in result.steps[0].metrics if x.verdict == "FAIL"}
    assert failed == {"cac_margin_s"} and result.exit_code == 1


def test_a_dut_that_never_stops_is_caught_though_it_fills_every_capture(tmp_path, runs_dir):
    # no CAC worth the name and traffic for the whole hour: no capture shows the noise floor for long
    prof = profile(tmp_path, "chatty.toml", "cac_s = 0.001\ntx_delay_s = 0.0\nstop_after_s = 4000.0")
    result = run("dfs", dut_profile=str(prof), out=tmp_path / "runs")
    m = {x.name: x for x in result.steps[0].metrics}
    assert m["cac_silence_s"].value < 0.01 and m["channel_move_time_s"].verdict == "FAIL"
    assert m["nop_transmissions"].value > 0 and m["nop_transmissions"].verdict == "FAIL" and result.exit_code == 1


@pytest.mark.parametrize("args, expected", [
    (["--set", "channel=36"], "channel 36 is not in W53; valid: 52, 56, 60, 64"),
    (["--set", "band=W56", "--set", "channel=52"], "valid: 100, 104, 108"),
    (["--set", "band=W52"], "band='W52'; valid values: W53, W56"),
    (["--set", "domain=KCC"], "domain='KCC'; valid values: FCC, ETSI, MIC"),
    (["--set", "radar_type=9"], "radar_type='9' is not a FCC radar type; valid: 0, 1, 1-legacy, 2, 3, 4, 5, 6"),
    (["--set", "domain=MIC", "--set", "radar_type=W56-fixed-1"],
     "is not a MIC in W53 radar type; valid: W53-fixed-1"),
])
def test_usage_errors_exit_64_and_list_the_valid_values(args, expected):
    proc = labbench("run", "dfs", *args)
    assert proc.returncode == 64, proc.stdout + proc.stderr
    assert expected in proc.stderr


# ---------------------------------------------------------------- every radar type through the simulated bench

ALL = [t for d in ("FCC", "ETSI", "MIC") for t in radar_types(d)]
_OVERRIDES = {"W53-variable-4": "radar_pulse_width_s = 9e-6", "W53-chirp-6": "radar_pulse_width_s = 9e-6"}


@pytest.mark.slow
@pytest.mark.parametrize("radar_t", ALL, ids=[t.key for t in ALL])
def test_every_radar_type_is_recognised_through_the_simulated_analyzer(radar_t, tmp_path, runs_dir):
    """The whole procedure per type. The DUT's own check runs past the burst (cac_s = 100 s) so it only
    sends its closing frames: no frame of its traffic hides a pulse (pulses lost from staggered or bursty
    trains cannot be counted back; regular trains can, as the default run shows)."""
    channel, band = (52, "W53") if radar_t.band in (None, "W53") else (100, "W56")
    prof = profile(tmp_path, "radar.toml", f'domain = "{radar_t.domain}"\nradar_type = "{radar_t.name}"\n'
                   f'cac_s = 100.0\n{_OVERRIDES.get(radar_t.name, "")}')
    result = run("dfs", dut_profile=str(prof), out=tmp_path / "runs",
                 sets={"band": band, "channel": str(channel), "domain": radar_t.domain, "radar_type": radar_t.name})
    m = {x.name: x for x in result.steps[0].metrics}
    stored = read_step(result.run_file, "01_dfs").results["radar"]
    assert m["radar_type_match"].value == 1, (stored["type"], stored.get("candidates"))
    assert m["radar_pulses_detected"].value >= 1 and m["channel_move_time_s"].verdict == PASS
