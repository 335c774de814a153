"""`labbench run eye-jitter` end to end: simulated DSAZ334A over a socket, run file, verdicts."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import PROFILES, shared_file, labbench_cli

METRICS = ["bit_rate_bps", "bit_rate_deviation_ppm", "ui_s", "eye_height_v", "eye_width_s", "eye_width_ui",
           "tie_rms_s", "tie_pp_s", "period_jitter_rms_s", "c2c_jitter_rms_s", "rj_rms_s", "dj_dd_s", "tj_s",
           "dcd_s", "rise_time_s", "fall_time_s"]


labbench = labbench_cli   # the CLI in a subprocess (tests/conftest.py)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    summary = out / "S.json"
    proc = labbench("run", "eye-jitter", "--out", out, "--json", summary)
    return proc, json.loads(summary.read_text()), out


def test_default_profile_passes_with_every_metric(default_run):
    proc, summary, _ = default_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary["verdict"] == "PASS"
    step = summary["steps"][0]
    assert step["procedure"] == "eye-jitter"
    names = [m["name"] for m in step["metrics"]]
    assert names == METRICS
    assert all(m["value"] is not None for m in step["metrics"])
    assert set(summary) >= {"run_id", "run_file", "verdict", "steps"}
    assert "PASS" in proc.stdout and "tj_s" in proc.stdout


def test_run_file_is_readable_with_plain_h5py_by_the_layout(default_run):
    _, summary, _ = default_run
    with h5py.File(summary["run_file"], "r") as f:
        assert f.attrs["status"] == "complete" and f.attrs["verdict"] == "PASS"
        assert f.attrs["format_version"] == 1 and f.attrs["dut_serial"] == "SIM-000123"
        inst = f["instruments/scope"]
        assert "DSAZ334A" in inst.attrs["idn"] and inst.attrs["resource"].startswith("TCPIP0::127.0.0.1::")
        log = inst["scpi_log"][()]
        texts = [t.decode() if isinstance(t, bytes) else t for t in log["text"]]
        assert any(t.startswith(":DIGitize") for t in texts) and any("#block" in t for t in texts)
        raw = f["steps/01_eye-jitter/captures/data"]
        assert raw.dtype == np.int16 and raw.chunks is not None and raw.compression == "gzip"
        for key in ("x0", "dx", "y_increment", "y_origin", "y_reference", "hole_code", "settings"):
            assert key in raw.attrs
        volts = (raw[:1000] - raw.attrs["y_reference"]) * raw.attrs["y_increment"] + raw.attrs["y_origin"]
        assert 0.3 < np.ptp(volts) < 0.5
        metrics = f["steps/01_eye-jitter/metrics"][()]
        assert [n.decode() if isinstance(n, bytes) else n for n in metrics["name"]] == METRICS
        assert f["steps/01_eye-jitter"].attrs["verdict"] == "PASS"


def test_scope_measurements_agree_with_labbench_analysis(default_run):
    # The simulator computes its :MEASure answers with its own code (instruments/sim), not labbench.analysis.
    _, summary, _ = default_run
    metrics = {m["name"]: m["value"] for m in summary["steps"][0]["metrics"]}
    with h5py.File(summary["run_file"], "r") as f:
        res = f["steps/01_eye-jitter/results"]
        scope = {k: float(v[()]) for k, v in res["scope_measurements"].items()}
        rise_10_90 = float(res["transitions/rise_10_90_s"][()])
    assert scope["rise_time_10_90_s"] == pytest.approx(rise_10_90, rel=0.05)       # interpolation differs
    assert scope["data_rate_bps"] == pytest.approx(metrics["bit_rate_bps"], rel=2e-6)
    assert scope["eye_height_v"] == pytest.approx(metrics["eye_height_v"], rel=0.05)
    assert scope["eye_width_s"] == pytest.approx(metrics["eye_width_s"], rel=0.05)
    assert scope["rj_rms_s"] == pytest.approx(metrics["rj_rms_s"], rel=0.15)          # edge timing noise adds a little
    assert scope["tj_s"] == pytest.approx(metrics["tj_s"], rel=0.15)
    assert scope["vpp_v"] == pytest.approx(0.4, rel=0.1)


def test_fault_jitter_profile_fails_with_exit_1(tmp_path):
    summary = tmp_path / "S.json"
    proc = labbench("run", "eye-jitter", "--out", tmp_path, "--json", summary, "--set", "points=300000",
                    "--dut-profile", PROFILES / "fault-jitter.toml")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads(summary.read_text())
    failed = {m["name"] for m in data["steps"][0]["metrics"] if m["verdict"] == "FAIL"}
    assert {"rj_rms_s", "tj_s"} <= failed


def test_real_uart_capture_replayed_through_the_socket(tmp_path):
    capture = shared_file("keysight_dsox1102g_uart.bin")
    summary = tmp_path / "S.json"
    proc = labbench("run", "eye-jitter", "--replay", capture, "--set", "nominal_rate_bps=115200",
                    "--out", tmp_path, "--json", summary)
    assert proc.returncode in (0, 1), proc.stderr
    metrics = {m["name"]: m["value"] for m in json.loads(summary.read_text())["steps"][0]["metrics"]}
    assert metrics["bit_rate_bps"] == pytest.approx(113.2e3, rel=1e-3)
    assert metrics["bit_rate_deviation_ppm"] == pytest.approx(-17_500, abs=300)     # about 1.75 % slow
    assert metrics["ui_s"] == pytest.approx(1 / 113.2e3, rel=1e-3)
    assert metrics["tie_rms_s"] < 0.02 * metrics["ui_s"]
    with h5py.File(json.loads(summary.read_text())["run_file"]) as f:
        assert f["steps/01_eye-jitter/captures/data"].shape == (999_999,)
        assert f["steps/01_eye-jitter/captures/data"].attrs["dx"] == pytest.approx(50e-9)


@pytest.mark.parametrize("args, expected", [
    (["run", "eye-jiter"], "Did you mean 'eye-jitter'? Valid procedures: "),
    (["run", "eye-jitter", "--set", "brr=1"], "no parameter 'brr'; valid: nominal_rate_bps"),
    (["run", "eye-jitter", "--set", "ber=often"], "ber='often' is not a valid float"),
    (["run", "eye-jitter", "--set", "clock_recovery=magic"], "valid values: constant, pll"),
    (["run", "eye-jitter", "--set", "ber"], "expected NAME=VALUE"),
    (["run", "eye-jitter", "--replay", "/no/such/file.bin"], "/no/such/file.bin: no such file"),
])
def test_usage_errors_exit_64_and_say_what_is_valid(args, expected):
    proc = labbench(*args)
    assert proc.returncode == 64, proc.stdout + proc.stderr
    assert expected in proc.stderr


def test_unreadable_replay_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"NOPE" + b"\0" * 100)
    proc = labbench("run", "eye-jitter", "--replay", bad, "--out", tmp_path)
    assert proc.returncode == 64 and str(bad) in proc.stderr


def test_kill_9_between_captures_leaves_a_readable_file_with_every_finished_capture(tmp_path):
    plan = tmp_path / "two.toml"
    plan.write_text('[[step]]\nprocedure = "eye-jitter"\n[step.set]\npoints = 200000\n'
                    '[[step]]\nprocedure = "eye-jitter"\n[step.set]\npoints = 4000000\n')
    proc = subprocess.Popen([sys.executable, "-m", "labbench.cli", "run", str(plan), "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if "[2/2] eye-jitter: acquiring" in line or time.monotonic() > deadline:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    files = list(tmp_path.glob("*.h5"))
    assert len(files) == 1
    with h5py.File(files[0], "r") as f:
        assert f.attrs["status"] != "complete"
        data = f["steps/01_eye-jitter/captures/data"]
        assert data.shape == (200_000,) and np.ptp(data[:1000].astype(int)) > 0
        assert f["steps/01_eye-jitter"].attrs["verdict"] in ("PASS", "FAIL")
