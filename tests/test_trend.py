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
from labbench.trend import (K_SIGMA, MIN_HISTORY, REL_FLOOR, SCHEMA_VERSION, TrendIndex, drift, index_location,
                            index_run, params_key, params_label, trend_rows)

TJ_HIGH_S = 28e-12


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LABBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("LABBENCH_TREND", raising=False)
    return tmp_path / "data"


def fake_run(tmp_path: Path, number: int, tj_s: float, serial: str = "SIM-000123", *,
             params: dict | None = None, rate_bps: float = 10.3125e9, replay: str | None = None) -> RunResult:
    """A finished run with one eye-jitter step (stored with its parameters, default ber=1e-12), and its run
    file (for start time, DUT serial, step parameters and, for a replay, the `replay` attribute)."""
    run_id = f"run{number:03d}"
    path = tmp_path / "runs" / f"{run_id}.h5"
    writer = RunWriter(path, run_id, {"dut_serial": serial, "dut_model": "IoT-Sensor-X1", "plan": "nightly"})
    step_name = writer.begin_step(1, "eye-jitter", {"ber": 1e-12, "points": 1_000_000} if params is None else params)
    if replay is not None:
        writer.set_attrs(replay=replay)
    time.sleep(0.002)      # run start times are kept to the millisecond: keep them in order
    tj = Metric("tj_s", tj_s, "s").judged(None, TJ_HIGH_S)
    rate = Metric("bit_rate_bps", rate_bps, "b/s")
    step = StepResult(1, "eye-jitter", tj.verdict, [tj, rate], step_name=step_name)
    return RunResult(run_id, str(path), tj.verdict, "complete", [step], "nightly")


def test_index_lives_in_the_data_folder(data_dir, monkeypatch):
    assert index_location() == data_dir / "trend.sqlite"
    monkeypatch.setenv("LABBENCH_TREND", str(data_dir / "elsewhere.sqlite"))
    assert index_location() == data_dir / "elsewhere.sqlite"


def test_every_run_is_indexed_by_a_hook_registered_with_the_runner():
    assert any(getattr(h, "__name__", "") == "_index_in_trend" for h in labbench.runner.AFTER_RUN_HOOKS)


def test_drift_is_deviation_in_sample_sigmas():
    # history 1, 3, 1, 3, 2: mean 2, sample std 1 (squares 1+1+1+1+0 over 4); 6 is 4 sigma above
    deviation, mean, std, sigma = drift(6.0, [1.0, 3.0, 1.0, 3.0, 2.0])
    assert (deviation, mean, std, sigma) == pytest.approx((4.0, 2.0, 1.0, 1.0))


def test_drift_of_a_repeatable_history_uses_the_relative_floor():
    # identical history: std 0, so the spread is REL_FLOOR * mean = 0.01; 1.05 is +5 sigma
    deviation, _, std, sigma = drift(1.05, [1.0] * MIN_HISTORY)
    assert std == 0 and sigma == pytest.approx(REL_FLOOR) and deviation == pytest.approx(5.0)


def test_drift_needs_min_history_earlier_values():
    assert MIN_HISTORY == 5
    assert drift(5.0, [1.0, 1.0, 1.0, 1.0]) is None
    assert drift(5.0, [1.0, math.nan, 1.0, 1.0, 1.0]) is None            # a NaN is not a value
    assert drift(5.0, [1.0, math.nan, 1.0, 1.0, 1.0, 1.0]) is not None


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
    for n, value in enumerate([7.0e-12, 7.1e-12, 6.9e-12, 7.05e-12, 6.95e-12]):
        assert index_run(fake_run(tmp_path, n, value)) == []
    # history std ~0.079 ps, floor 0.07 ps: 8 ps is ~ +13 sigma, and still inside the 28 ps limit
    shifted = fake_run(tmp_path, 10, 8.0e-12)
    alarms = index_run(shifted)
    assert [a.metric for a in alarms] == ["tj_s"] and alarms[0].deviation_sigma > K_SIGMA
    assert shifted.drift_alarms[0]["metric"] == "tj_s" and shifted.drift_alarms[0]["step"] == 1
    text = alarms[0].describe()
    assert "inside its limits [.. 2.8e-11]" in text and "standard deviation of those 5 runs" in text


def test_failing_value_is_not_a_drift_alarm_and_stays_out_of_the_history(tmp_path, data_dir):
    for n in range(MIN_HISTORY):
        index_run(fake_run(tmp_path, n, 7.0e-12))
    assert index_run(fake_run(tmp_path, 10, 40e-12)) == []                 # FAIL: reported as FAIL, not as drift
    alarms = index_run(fake_run(tmp_path, 11, 9.0e-12))                    # baseline still 7 ps: alarm
    assert [a.metric for a in alarms] == ["tj_s"] and alarms[0].mean == pytest.approx(7.0e-12)


def test_small_change_within_the_spread_is_no_alarm(tmp_path, data_dir):
    for n, value in enumerate([7.0e-12, 7.2e-12, 6.8e-12, 7.1e-12, 6.9e-12]):
        index_run(fake_run(tmp_path, n, value))
    assert index_run(fake_run(tmp_path, 9, 7.15e-12)) == []


def test_trend_command_prints_history_with_alarm_and_plots(tmp_path, data_dir, capsys):
    for n, value in enumerate([7.0e-12] * MIN_HISTORY + [9.0e-12]):
        index_run(fake_run(tmp_path, n, value))
    plot = tmp_path / "tj.png"
    assert main(["trend", "tj_s", "--dut", "SIM-000123", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("20")]
    assert len(rows) == 6 and "7e-12" in rows[0] and "9e-12" in rows[5] and rows[5].split()[-2:-1] == ["ALARM"]
    key = params_key({"ber": 1e-12, "points": 1_000_000})
    assert rows[5].split()[-1] == params_label(key) and f"params {params_label(key)}: {key}" in out
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
    for n, value in enumerate([7e-12] * MIN_HISTORY + [40e-12, 7e-12]):
        index_run(fake_run(tmp_path, n, value))
    with TrendIndex() as index:
        rows = trend_rows(index, "tj_s")
    assert [r.point.verdict for r in rows] == ["PASS"] * MIN_HISTORY + ["FAIL", "PASS"]
    assert rows[-1].deviation_sigma == 0.0      # judged (5 earlier values in limits), and right on their mean
    assert not any(r.alarm for r in rows)       # the FAIL is a FAIL, the return to 7 ps is no drift



# ---------------------------------------------------------------- whose history a value is judged against

def test_other_step_parameters_are_another_history_not_drift(tmp_path, data_dir):
    # The simulated bench repeats tj_s exactly, so the spread is the 1 % floor (0.07 ps); ber=1e-15 widens
    # TJ to 8 ps (+14 floor sigmas). It is a different measurement, not drift of the ber=1e-12 one.
    for n in range(MIN_HISTORY):
        index_run(fake_run(tmp_path, n, 7.0e-12))
    other = {"ber": 1e-15, "points": 1_000_000}
    for n in range(10, 10 + MIN_HISTORY + 1):
        assert index_run(fake_run(tmp_path, n, 8.0e-12, params=other)) == []
    assert index_run(fake_run(tmp_path, 20, 7.0e-12)) == []                # back to 1e-12: its own history
    with TrendIndex() as index:
        assert len(index.history("tj_s", params=params_key(other))) == MIN_HISTORY + 1
        rows = trend_rows(index, "tj_s")
    assert not any(r.alarm for r in rows) and rows[-1].deviation_sigma == 0.0


def test_params_key_is_canonical():
    assert params_key({"points": 1_000_000, "ber": 1e-12}) == params_key({"ber": 1e-12, "points": 1000000})
    assert params_key({"ber": 1e-12}) != params_key({"ber": 1e-15})
    assert params_key({"clock_recovery": "pll"}) != params_key({"clock_recovery": "cdr"})


def test_no_judgement_before_min_history_earlier_runs(tmp_path, data_dir):
    # 9 ps after identical 7 ps runs is +29 floor sigmas: judged after 5 earlier runs, not after 4
    for n in range(4):
        index_run(fake_run(tmp_path, n, 7.0e-12, serial="FOUR-RUNS"))
        index_run(fake_run(tmp_path, 10 + n, 7.0e-12, serial="FIVE-RUNS"))
    index_run(fake_run(tmp_path, 20, 7.0e-12, serial="FIVE-RUNS"))
    assert index_run(fake_run(tmp_path, 30, 9.0e-12, serial="FOUR-RUNS")) == []
    (alarm,) = index_run(fake_run(tmp_path, 31, 9.0e-12, serial="FIVE-RUNS"))
    assert alarm.runs == 5 and alarm.deviation_sigma == pytest.approx(28.6, abs=0.1)


def test_alarm_on_a_repeatable_history_says_the_floor_was_used(tmp_path, data_dir):
    for n in range(MIN_HISTORY):
        index_run(fake_run(tmp_path, n, 7.0e-12))
    (alarm,) = index_run(fake_run(tmp_path, 9, 7.5e-12))
    # identical history: std 0, sigma = 1 % of 7 ps = 0.07 ps; 0.5 ps is +7.1 sigma
    assert alarm.std == 0.0 and alarm.sigma == pytest.approx(0.07e-12) and alarm.deviation_sigma == pytest.approx(7.14, abs=0.01)
    text = alarm.describe()
    assert "sigma 7e-14 s = 1 % of the mean (floor" in text and "std 0" in text and "+7.1 sigma" in text
    assert "same DUT, procedure and parameters" in text
    assert alarm.as_dict()["text"] == text


def test_alarm_on_a_metric_without_limits_does_not_claim_limits(tmp_path, data_dir):
    for n in range(MIN_HISTORY):
        index_run(fake_run(tmp_path, n, 7.0e-12))
    alarms = index_run(fake_run(tmp_path, 9, 7.0e-12, rate_bps=10.0e9))  # bit_rate_bps has no limits: -3 % is -3 sigma+
    (alarm,) = alarms
    assert alarm.metric == "bit_rate_bps" and alarm.verdict == "-"
    text = alarm.describe()
    assert "inside its limits" not in text and "no limits" in text


def test_replay_runs_are_kept_out_of_the_simulated_duts_history(tmp_path, data_dir):
    for n in range(MIN_HISTORY):
        index_run(fake_run(tmp_path, n, 7.0e-12))
    # a replay stores `replay` at the root; its serial is "replay:<file>" (or, from older code, the sim's)
    assert index_run(fake_run(tmp_path, 10, 30e-12 - 1e-12, replay="/data/uart.bin")) == []
    assert index_run(fake_run(tmp_path, 11, 27e-12, serial="replay:uart.bin", replay="/data/uart.bin")) == []
    assert index_run(fake_run(tmp_path, 12, 7.0e-12)) == []                 # the DUT's history is untouched
    with TrendIndex() as index:
        assert [p.value for p in index.history("tj_s", dut="SIM-000123")] == [7.0e-12] * (MIN_HISTORY + 1)
        assert [p.value for p in index.history("tj_s", dut="replay:uart.bin")] == [29e-12, 27e-12]


def _old_schema_index(path: Path, rows: list[tuple[str, str, str, float]]) -> None:
    """An index as schema 1 wrote it: no step parameters. rows: (run_id, start, run_file, tj_s)."""
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("""CREATE TABLE runs (run_id TEXT PRIMARY KEY, start TEXT, end TEXT, status TEXT, verdict TEXT,
                  plan TEXT, station TEXT, dut_model TEXT, dut_serial TEXT, software_version TEXT, run_file TEXT)""")
    db.execute("""CREATE TABLE metrics (run_id TEXT NOT NULL REFERENCES runs(run_id), step INTEGER, procedure TEXT,
                  name TEXT, value REAL, unit TEXT, low REAL, high REAL, verdict TEXT, PRIMARY KEY (run_id, step, name))""")
    db.execute("CREATE INDEX metrics_by_name ON metrics(name, procedure)")
    for run_id, start, run_file, value in rows:
        db.execute("INSERT INTO runs VALUES (?, ?, '', 'complete', 'PASS', '', '', '', 'SIM-000123', '', ?)",
                   (run_id, start, run_file))
        db.execute("INSERT INTO metrics VALUES (?, 1, 'eye-jitter', 'tj_s', ?, 's', NULL, 28e-12, 'PASS')",
                   (run_id, value))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()


def test_an_index_of_the_older_schema_is_migrated_and_keeps_its_history(tmp_path, data_dir):
    data_dir.mkdir(parents=True)
    files = [fake_run(tmp_path, n, 7.0e-12).run_file for n in range(MIN_HISTORY)]
    rows = [(f"run{n:03d}", f"2026-01-0{n + 1}T00:00:00", f, 7.0e-12) for n, f in enumerate(files)]
    rows.append(("gone", "2026-01-09T00:00:00", str(tmp_path / "deleted.h5"), 7.0e-12))   # its file is gone
    _old_schema_index(data_dir / "trend.sqlite", rows)
    with TrendIndex() as index:
        assert index.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        params = dict(index.db.execute("SELECT run_id, params FROM metrics"))
    assert params["run000"] == params_key({"ber": 1e-12, "points": 1_000_000}) and params["gone"] is None
    # the parameters read back from the run files keep the history: the 5 migrated runs judge the next one
    (alarm,) = index_run(fake_run(tmp_path, 20, 8.0e-12))
    assert alarm.runs == MIN_HISTORY


# ---------------------------------------------------------------- `labbench trend` options

@pytest.mark.parametrize("option, says", [
    (["--last", "0"], "--last 0: must be a whole number >= 1"),
    (["--last", "-3"], "--last -3: must be a whole number >= 1"),
    (["--k", "0"], "--k 0: must be a number of sigmas > 0"),
    (["--k", "nan"], "--k nan: must be a number of sigmas > 0"),
    (["--runs", "0"], f"--runs 0: must be a whole number >= {MIN_HISTORY}"),
    (["--runs", "4"], f"--runs 4: must be a whole number >= {MIN_HISTORY}"),
])
def test_trend_option_out_of_range_is_a_usage_error(tmp_path, data_dir, capsys, option, says):
    index_run(fake_run(tmp_path, 0, 7e-12))
    assert main(["trend", "tj_s", *option]) == 64
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err


def test_trend_index_that_is_not_a_database_is_a_one_line_error(tmp_path, data_dir, capsys):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00\x01 not sqlite " * 100)
    assert main(["trend", "tj_s", "--index", str(garbage)]) == 64
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(garbage) in err and "not an SQLite database" in err


def test_trend_index_of_another_sqlite_database_is_refused_and_left_unchanged(tmp_path, data_dir, capsys):
    import sqlite3

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE things (x)")
    before = other.read_bytes()
    assert main(["trend", "tj_s", "--index", str(other)]) == 64
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(other) in err and "not a labbench trend index" in err
    assert other.read_bytes() == before


@pytest.mark.parametrize("where, says", [("missing-folder/tj.png", "no such folder"),
                                         ("a-file/tj.png", "not a folder"), ("tj.xyz", "png")])
def test_trend_plot_that_cannot_be_written_is_a_one_line_error(tmp_path, data_dir, capsys, where, says):
    for n in range(2):
        index_run(fake_run(tmp_path, n, 7e-12))
    (tmp_path / "a-file").write_text("a file, not a folder")
    target = tmp_path / where
    assert main(["trend", "tj_s", "--plot", str(target)]) == 64
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(target) in err and says in err and not target.exists()


def test_trend_plot_refused_by_the_file_system_is_a_one_line_error(tmp_path, data_dir, capsys, monkeypatch):
    from matplotlib.figure import Figure

    def refuse(self, path, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))
    index_run(fake_run(tmp_path, 0, 7e-12))
    monkeypatch.setattr(Figure, "savefig", refuse)              # a read-only share, a full disk ...
    target = tmp_path / "tj.png"
    assert main(["trend", "tj_s", "--plot", str(target)]) == 64
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(target) in err and "cannot write" in err and "Permission denied" in err


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
