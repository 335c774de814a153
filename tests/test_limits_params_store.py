"""Limits files, --set parameters, and run files written while measuring."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from labbench.capture import Capture
from labbench.errors import ConfigError, StoreError, UsageError
from labbench.limits import FAIL, NOT_JUDGED, PASS, Metric, judge, load_limits, run_verdict
from labbench.procedure import get_procedure, parse_params
from labbench.store import RunWriter, read_captures, read_step, read_steps


def test_metric_is_judged_against_low_and_high():
    m = Metric("tj_s", 30e-12, "s")
    assert m.judged(None, 28e-12).verdict == FAIL
    assert m.judged(None, 31e-12).verdict == PASS
    assert m.judged(None, None).verdict == NOT_JUDGED
    assert Metric("x", float("nan"), "").judged(0, 1).verdict == FAIL      # a NaN never passes
    assert "tj_s = 3e-11 s (limit <= 2.8e-11)" in m.judged(None, 28e-12).describe_failure()


def test_run_verdict_rules():
    assert run_verdict([PASS, PASS]) == PASS
    assert run_verdict([PASS, "ERROR"]) == "ERROR"
    assert run_verdict(["ERROR", FAIL]) == FAIL


def test_limits_file_errors_name_file_line_and_key(tmp_path):
    bad = tmp_path / "l.toml"
    bad.write_text('[eye-jitter]\ntj_s = { high = 1e-12 }\neye_height_v = { minimum = 0.1 }\n')
    with pytest.raises(ConfigError, match=r"l.toml, line 3: eye-jitter.eye_height_v"):
        load_limits(bad)
    bad.write_text('[eye-jitter]\ntj_s = { high = "small" }\n')
    with pytest.raises(ConfigError, match=r"line 2: eye-jitter.tj_s.high must be a number"):
        load_limits(bad)
    bad.write_text('[eye-jitter\n')
    with pytest.raises(ConfigError, match="l.toml"):
        load_limits(bad)


def test_limits_naming_an_unknown_metric_are_refused_before_running(tmp_path):
    from labbench.runner import StepSpec, prepare

    limits = tmp_path / "l.toml"
    limits.write_text('[eye-jitter]\ntj_ps = { high = 28 }\n')
    with pytest.raises(ConfigError, match="unknown metric.*tj_ps"):
        prepare([StepSpec("eye-jitter")], str(limits), {})


def test_judge_uses_the_procedures_table(tmp_path):
    limits = tmp_path / "l.toml"
    limits.write_text('[eye-jitter]\ntj_s = { high = 28e-12 }\n')
    judged = judge([Metric("tj_s", 29e-12, "s"), Metric("ui_s", 1e-10, "s")],
                   load_limits(limits).for_procedure("eye-jitter"))
    assert [m.verdict for m in judged] == [FAIL, NOT_JUDGED]


def test_parameters_from_strings():
    eye = get_procedure("eye-jitter")
    p = parse_params(eye, {"ber": "1e-15", "points": "200000", "nominal_rate_bps": "none", "cross_check": "off"})
    assert p.ber == 1e-15 and p.points == 200_000 and p.nominal_rate_bps is None and p.cross_check is False
    with pytest.raises(UsageError, match="ber=2.0: use 1e-18 to 1e-2"):
        parse_params(eye, {"ber": "2"})
    with pytest.raises(UsageError, match="points='many' is not a valid int"):
        parse_params(eye, {"points": "many"})


def test_run_file_round_trip_and_each_capture_is_readable_at_once(tmp_path):
    path = tmp_path / "r.h5"
    w = RunWriter(path, "rid", {"dut_serial": "S1"})
    step = w.begin_step(1, "eye-jitter", {"ber": 1e-12})
    codes = (np.arange(10_000) % 200 - 100).astype(np.int16)
    codes[5] = 31232
    w.write_capture(step, Capture("data", codes, x0=-1e-9, dx=12.5e-12, y_increment=1e-4, y_origin=0.01,
                                  hole_code=31232, settings={"scale": 0.1}))
    with h5py.File(path, "r") as f:          # readable while the run is still going
        assert f.attrs["status"] == "running" and f["steps/01_eye-jitter/captures/data"].shape == (10_000,)
    w.write_metrics(step, [Metric("tj_s", 1e-11, "s", None, 2e-11, PASS)])
    w.write_results(step, {"eye": {"histogram": np.ones((4, 4))}, "note": "text"})
    w.end_step(step, PASS)
    w.finish("complete", PASS)
    capture = read_captures(path, step)["data"]
    values = capture.values()
    assert np.isnan(values[5]) and values[6] == pytest.approx((6 % 200 - 100) * 1e-4 + 0.01)
    assert capture.settings == {"scale": 0.1} and capture.x0 == -1e-9
    steps = read_steps(path)
    assert steps[0].verdict == PASS and steps[0].metrics[0].high == 2e-11 and steps[0].metrics[0].low is None
    data = read_step(path, step)
    assert data.results["eye"]["histogram"].shape == (4, 4) and data.results["note"] == "text"


def test_files_that_are_not_runs_are_refused_clearly(tmp_path):
    not_h5 = tmp_path / "x.h5"
    not_h5.write_text("hello")
    with pytest.raises(StoreError, match="x.h5: not an HDF5 file"):
        read_steps(not_h5)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["a"] = 1
    with pytest.raises(StoreError, match="not a labbench run"):
        read_steps(other)
    newer = tmp_path / "newer.h5"
    RunWriter(newer, "r", {})
    with h5py.File(newer, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(StoreError, match="run format 99 is newer"):
        read_steps(newer)
