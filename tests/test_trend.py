"""Trend index: every run lands, history comes back in order, drift alarms fire on in-limit shifts only."""
from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import labbench.runner
from labbench.cli import main
from labbench.limits import Metric
from labbench.runner import RunResult, StepResult
from labbench.store import RunWriter
from labbench.trend import (K_SIGMA, REL_FLOOR, TrendIndex, drift, index_location, index_run, trend_rows)

TJ_HIGH_S = 28e-12


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LABBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("LABBENCH_TREND", raising=False)
    return tmp_path / "data"


def fake_run(tmp_path: Path, number: int, tj_s: float, serial: str = "SIM-000123") -> RunResult:
    """A finished run with one eye-jitter step, and its run file (for start time and DUT serial)."""
    run_id = f"run{number:03d}"
    path = tmp_path / "runs" / f"{run_id}.h5"
    RunWriter(path, run_id, {"dut_serial": serial, "dut_model": "IoT-Sensor-X1", "plan": "nightly"})
    time.sleep(0.002)      # run start times are kept to the millisecond: keep them in order
    tj = Metric("tj_s", tj_s, "s").judged(None, TJ_HIGH_S)
    rate = Metric("bit_rate_bps", 10.3125e9, "b/s")
    step = StepResult(1, "eye-jitter", tj.verdict, [tj, rate])
    return RunResult(run_id, str(path), tj.verdict, "complete", [step], "nightly")


def test_index_lives_in_the_data_folder(data_dir, monkeypatch):
    assert index_location() == data_dir / "trend.sqlite"
    monkeypatch.setenv("LABBENCH_TREND", str(data_dir / "elsewhere.sqlite"))
    assert index_location() == data_dir / "elsewhere.sqlite"


def test_every_run_is_indexed_by_a_hook_registered_with_the_runner():
    assert any(getattr(h, "__name__", "") == "_index_in_trend" for h in labbench.runner.AFTER_RUN_HOOKS)


def test_drift_is_deviation_in_sample_sigmas():
    # history 1, 2, 3: mean 2, sample std 1; 6 is 4 sigma above
    deviation, mean, std, sigma = drift(6.0, [1.0, 2.0, 3.0])
    assert (deviation, mean, std, sigma) == pytest.approx((4.0, 2.0, 1.0, 1.0))


def test_drift_of_a_repeatable_history_uses_the_relative_floor():
    # identical history: std 0, so the spread is REL_FLOOR * mean = 0.01; 1.05 is +5 sigma
    deviation, _, std, sigma = drift(1.05, [1.0, 1.0, 1.0])
    assert std == 0 and sigma == pytest.approx(REL_FLOOR) and deviation == pytest.approx(5.0)


def test_drift_needs_a_few_earlier_values():
    assert drift(5.0, [1.0, 1.0]) is None
    assert drift(5.0, [1.0, math.nan, 1.0, 1.0]) is not None


def test_history_comes_back_oldest_first_per_dut(tmp_path, data_dir):
    for n, value in enumerate([7e-12, 7.1e-12, 6.9e-12]):
        index_run(fake_run(tmp_path, n, value))
    index_run(fake_run(tmp_path, 9, 9e-12, serial="OTHER"))
    with TrendIndex() as index:
        points = index.history("tj_s", dut="SIM-000123")
        assert [p.value for p in points] == [7e-12, 7.1e-12, 6.9e-12]
        assert points[0].procedure == "eye-jitter" and points[0].high == TJ_HIGH_S and points[0].unit == "s"
        assert len(index.history("tj_s")) == 4 and len(index.history("tj_s", last=2)) == 2


def test_in_limit_shift_raises_a_drift_alarm_on_the_result(tmp_path, data_dir):
    for n, value in enumerate([7.0e-12, 7.1e-12, 6.9e-12, 7.05e-12]):
        assert index_run(fake_run(tmp_path, n, value)) == []
    # history std ~0.085 ps, floor 0.07 ps: 8 ps is ~ +11 sigma, and still inside the 28 ps limit
    shifted = fake_run(tmp_path, 10, 8.0e-12)
    alarms = index_run(shifted)
    assert [a.metric for a in alarms] == ["tj_s"] and alarms[0].deviation_sigma > K_SIGMA
    assert shifted.drift_alarms[0]["metric"] == "tj_s" and shifted.drift_alarms[0]["step"] == 1
    assert "inside its limits" in alarms[0].describe()


def test_failing_value_is_not_a_drift_alarm_and_stays_out_of_the_history(tmp_path, data_dir):
    for n in range(3):
        index_run(fake_run(tmp_path, n, 7.0e-12))
    assert index_run(fake_run(tmp_path, 3, 40e-12)) == []                  # FAIL: reported as FAIL, not as drift
    alarms = index_run(fake_run(tmp_path, 4, 9.0e-12))                     # baseline still 7 ps: alarm
    assert [a.metric for a in alarms] == ["tj_s"] and alarms[0].mean == pytest.approx(7.0e-12)


def test_small_change_within_the_spread_is_no_alarm(tmp_path, data_dir):
    for n, value in enumerate([7.0e-12, 7.2e-12, 6.8e-12, 7.1e-12]):
        index_run(fake_run(tmp_path, n, value))
    assert index_run(fake_run(tmp_path, 5, 7.15e-12)) == []


def test_trend_command_prints_history_with_alarm_and_plots(tmp_path, data_dir, capsys):
    for n, value in enumerate([7.0e-12, 7.0e-12, 7.0e-12, 9.0e-12]):
        index_run(fake_run(tmp_path, n, value))
    plot = tmp_path / "tj.png"
    assert main(["trend", "tj_s", "--dut", "SIM-000123", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("20")]
    assert len(rows) == 4 and "7e-12" in rows[0] and "9e-12" in rows[3] and rows[3].rstrip().endswith("ALARM")
    assert "drift alarm" in out
    from matplotlib.image import imread
    image = imread(plot)
    assert image.shape[0] > 100 and np.std(image[..., :3]) > 0.01      # a drawn plot, not a blank canvas


def test_trend_command_last_n_and_procedure_prefix(tmp_path, data_dir, capsys):
    for n in range(5):
        index_run(fake_run(tmp_path, n, 7.0e-12 + n * 1e-15))
    assert main(["trend", "eye-jitter:tj_s", "--last", "2"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("20")]
    assert len(rows) == 2 and "run004" in rows[1]


def test_trend_command_on_unknown_metric_is_a_usage_error(tmp_path, data_dir, capsys):
    index_run(fake_run(tmp_path, 0, 7e-12))
    assert main(["trend", "tj_ps"]) == 64
    assert "tj_s" in capsys.readouterr().err                 # lists what the index holds


def test_two_processes_writing_at_once_both_land(tmp_path, data_dir):
    """Two writers, started together, each indexing 40 runs of 30 metrics: all 80 runs and 2400 rows land."""
    script = textwrap.dedent("""
        import sys, time
        from labbench.trend import TrendIndex
        who, start = sys.argv[1], float(sys.argv[2])
        index = TrendIndex(sys.argv[3])
        while time.time() < start:
            time.sleep(0.001)
        for n in range(40):
            run = {"run_id": f"{who}-{n}", "start": f"2026-01-01T00:00:{n:02d}.{who}", "dut_serial": "X"}
            metrics = [{"step": 1, "procedure": "p", "name": f"m{i}", "value": float(n), "unit": "V",
                        "low": None, "high": None, "verdict": "-"} for i in range(30)]
            index.add_run(run, metrics)
        index.close()
        """)
    path = tmp_path / "shared.sqlite"
    TrendIndex(path).close()
    start = time.time() + 1.0
    procs = [subprocess.Popen([sys.executable, "-c", script, who, str(start), str(path)], stderr=subprocess.PIPE,
                              text=True) for who in ("a", "b")]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    with TrendIndex(path) as index:
        assert index.run_count() == 80
        assert index.db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 2400
        assert index.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_trend_rows_flag_the_step_change(tmp_path, data_dir):
    for n, value in enumerate([7e-12, 7e-12, 7e-12, 7e-12, 40e-12, 7e-12]):
        index_run(fake_run(tmp_path, n, value))
    with TrendIndex() as index:
        rows = trend_rows(index, "tj_s")
    assert [r.point.verdict for r in rows] == ["PASS"] * 4 + ["FAIL", "PASS"]
    assert not any(r.alarm for r in rows)       # the FAIL is a FAIL, the return to 7 ps is no drift


@pytest.mark.slow
def test_two_labbench_runs_finishing_together_are_both_indexed(tmp_path, data_dir):
    """Two `labbench run` processes on one data folder: both runs are in the index afterwards."""
    command = [sys.executable, "-m", "labbench.cli", "run", "eye-jitter", "-q", "--set", "points=100000"]
    procs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL) for _ in range(2)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and not any("warning" in e for e in errors), errors
    with TrendIndex(data_dir / "trend.sqlite") as index:
        assert index.run_count() == 2 and len(index.history("tj_s")) == 2
