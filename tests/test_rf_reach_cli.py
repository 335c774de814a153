"""`labbench run rf-reach` end to end: the simulated N9030B over a socket, run file, verdicts; the link budget
and range re-analysed from the stored trace with other parameters."""
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
from labbench.cli import main
from labbench.procedure import parse_params
from labbench.procedures.rf_reach import RfReach
from labbench.store import read_captures, read_step

METRICS = ["channel_power_dbm", "obw_hz", "mask_margin_db", "acpr_lower_dbc", "acpr_upper_dbc", "eirp_dbm",
           "link_budget_db", "range_m"]
STEP = "01_rf-reach"
FSPL_1M_2437_DB = 20 * math.log10(4 * math.pi * 2.437e9 / 299_792_458.0)     # 40.18 dB (standards.md §7.6)


labbench = labbench_cli   # the CLI in a subprocess (tests/conftest.py)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    summary = out / "S.json"
    t0 = time.perf_counter()
    proc = labbench("run", "rf-reach", "--out", out, "--json", summary, data_dir=out / "data")
    return proc, json.loads(summary.read_text()), time.perf_counter() - t0


def metrics_of(summary) -> dict[str, dict]:
    return {m["name"]: m for m in summary["steps"][0]["metrics"]}


def test_default_profile_passes_with_every_metric_in_seconds(default_run):
    proc, summary, wall_s = default_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary["verdict"] == "PASS" and summary["steps"][0]["procedure"] == "rf-reach"
    assert [m["name"] for m in summary["steps"][0]["metrics"]] == METRICS
    assert all(m["value"] is not None and m["verdict"] == "PASS" for m in summary["steps"][0]["metrics"])
    assert wall_s < 10.0


def test_metrics_match_the_simulated_transmitter(default_run):
    # [radio]: 16 dBm conducted, read at the DUT port through the reference-level offset; 2 dBi antenna;
    # link budget 16 + 2 + 0 + 82 = 100 dB; log-distance n = 3 with 10 dB margin: 10^((90 - 40.18) / 30) m
    m = {k: v["value"] for k, v in metrics_of(default_run[1]).items()}
    assert m["channel_power_dbm"] == pytest.approx(16.0, abs=0.15)
    assert m["eirp_dbm"] == pytest.approx(m["channel_power_dbm"] + 2.0, abs=1e-9)
    assert m["link_budget_db"] == pytest.approx(m["channel_power_dbm"] + 84.0, abs=1e-9)
    assert m["range_m"] == pytest.approx(10 ** ((m["link_budget_db"] - 10.0 - FSPL_1M_2437_DB) / 30.0), rel=1e-9)
    assert m["obw_hz"] == pytest.approx(16.6e6, rel=0.02)          # 52 subcarriers and the steep skirts
    assert 7.0 < m["mask_margin_db"] < 10.0                         # the clean skirts sit 9 dB under the mask
    assert -36.0 < m["acpr_lower_dbc"] < -31.0 and -36.0 < m["acpr_upper_dbc"] < -31.0


def test_analyzers_own_chp_obw_and_acp_agree_with_labbench_on_the_trace(default_run):
    with h5py.File(default_run[1]["run_file"], "r") as f:
        agreement = {k: float(v[()]) for k, v in f[f"steps/{STEP}/results/agreement"].items()}
        analyzer = {k: float(v[()]) for k, v in f[f"steps/{STEP}/results/analyzer"].items()}
    m = {k: v["value"] for k, v in metrics_of(default_run[1]).items()}
    # independent sweeps with RMS averaging: ~0.05 dB scatter in band power, a few 0.1 dB in the adjacent channels
    assert abs(agreement["channel_power_db"]) < 0.15
    assert abs(agreement["obw_hz"]) < 0.01 * m["obw_hz"]
    assert abs(agreement["acpr_lower_db"]) < 0.5 and abs(agreement["acpr_upper_db"]) < 0.5
    assert analyzer["channel_power_dbm"] - agreement["channel_power_db"] == pytest.approx(m["channel_power_dbm"])


def test_run_file_holds_the_trace_with_its_axis_and_the_mask(default_run):
    with h5py.File(default_run[1]["run_file"], "r") as f:
        trace = f[f"steps/{STEP}/captures/spectrum"]
        assert trace.dtype == np.float32 and trace.shape == (1601,)
        assert trace.attrs["x_unit"] == "Hz" and trace.attrs["dx"] == pytest.approx(50e3)
        assert trace.attrs["x0"] == pytest.approx(2.437e9 - 40e6)
        assert json.loads(trace.attrs["settings"])["rbw_hz"] == 100e3
        limit = f[f"steps/{STEP}/results/mask/limit_dbm"][()]
        assert limit.shape == (1601,) and np.isnan(limit[800]) and np.isfinite(limit[0])
        log = [t.decode() if isinstance(t, bytes) else t for t in f["instruments/analyzer/scpi_log"][()]["text"]]
    assert any(":INITiate:CONTinuous OFF" in t and "*OPC?" in t for t in log)
    assert any(":CONFigure:CHPower" in t for t in log) and any(":CONFigure:SANalyzer:NDEFault" in t for t in log)
    assert ":INITiate:CONTinuous 1" in log          # the continuous sweep found at the start, restored at the end


def test_fault_mask_profile_fails_on_mask_margin(tmp_path):
    summary = tmp_path / "S.json"
    proc = labbench("run", "rf-reach", "--out", tmp_path, "--json", summary,
                    "--dut-profile", PROFILES / "fault-mask.toml", data_dir=tmp_path / "data")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    metrics = metrics_of(json.loads(summary.read_text()))
    assert metrics["mask_margin_db"]["verdict"] == "FAIL"
    assert metrics["mask_margin_db"]["value"] == pytest.approx(9.0 - 14.0, abs=1.5)   # 14 dB regrowth, 9 dB room
    assert metrics["channel_power_dbm"]["verdict"] == "PASS"


@pytest.mark.parametrize("sets, expected_range", [
    # free space (and log-distance n = 2): FSPL(d) = budget - margin
    ({"path_loss_model": "free-space"}, lambda b: 10 ** ((b - 10.0 - FSPL_1M_2437_DB) / 20.0)),
    ({"path_loss_model": "log-distance", "path_loss_exponent": "2"},
     lambda b: 10 ** ((b - 10.0 - FSPL_1M_2437_DB) / 20.0)),
    # ITU-R P.1238 (older model), office, 2437 MHz: L = 20 log10 f_MHz + 30 log10 d + L_f - 28, L_f 14 dB a floor
    ({"path_loss_model": "itu-p1238", "floors": "0"}, lambda b: 10 ** ((b - 10.0 - 20 * math.log10(2437.0) + 28.0) / 30.0)),
    ({"path_loss_model": "itu-p1238", "floors": "1"},
     lambda b: 10 ** ((b - 10.0 - 20 * math.log10(2437.0) - 14.0 + 28.0) / 30.0)),
])
def test_range_is_reanalysed_from_the_stored_trace_for_each_path_loss_model(default_run, sets, expected_range):
    captures = read_captures(default_run[1]["run_file"], STEP)
    analysis = RfReach().analyze(captures, parse_params(RfReach, sets))
    m = {x.name: x.value for x in analysis.metrics}
    assert m["range_m"] == pytest.approx(expected_range(m["link_budget_db"]), rel=1e-6)


def test_budget_follows_antenna_gains_and_sensitivity_and_required_range_becomes_the_range_limit(default_run):
    captures = read_captures(default_run[1]["run_file"], STEP)
    base = {x.name: x for x in RfReach().analyze(captures, parse_params(RfReach, {})).metrics}
    p = parse_params(RfReach, {"tx_antenna_gain_dbi": "5", "rx_antenna_gain_dbi": "3", "sensitivity_dbm": "-90",
                               "required_range_m": "100"})
    analysis = RfReach().analyze(captures, p)
    m = {x.name: x for x in analysis.metrics}
    assert m["link_budget_db"].value - base["link_budget_db"].value == pytest.approx(3 + 3 + 8)
    assert m["eirp_dbm"].value - base["eirp_dbm"].value == pytest.approx(3.0)
    assert m["range_m"].low == 100.0
    link = analysis.results["link"]
    # the margin left at 100 m: budget - PL(100 m), PL = 40.18 + 30 log10(100) with n = 3
    assert float(link["link_margin_at_required_db"]) == pytest.approx(
        m["link_budget_db"].value - (FSPL_1M_2437_DB + 60.0), abs=1e-6)


def test_figures_show_the_spectrum_with_the_mask(default_run):
    step = read_step(default_run[1]["run_file"], STEP)
    figures = RfReach().figures(step)
    assert [title for title, _ in figures] == ["Spectrum and mask"]
    ax = figures[0][1].axes[0]
    assert {line.get_label() for line in ax.get_lines()} >= {"DUT (RMS average)", "mask"}


@pytest.mark.parametrize("args, expected", [
    (["--set", "channel=15"], "channel=15: 2.4 GHz Wi-Fi channels are 1-14"),
    (["--set", "path_loss_model=magic"], "valid values: free-space, log-distance, itu-p1238"),
    (["--set", "points=201"], "points=201: the trace needs a point at least every RBW"),
])
def test_usage_errors_exit_64_and_say_what_is_valid(tmp_path, capsys, args, expected):
    assert main(["run", "rf-reach", "--out", str(tmp_path), *args]) == 64
    assert expected in capsys.readouterr().err
