"""`labbench run rail-noise` end to end: simulated MSOS604A over a socket, run file, verdicts."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import PROFILES, labbench_cli

METRICS = ["rail_dc_v", "ripple_pp_v", "noise_rms_v", "switching_freq_hz", "spur_max_dbv", "worst_deviation_pct"]


labbench = labbench_cli   # the CLI in a subprocess (tests/conftest.py)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    summary = out / "S.json"
    proc = labbench("run", "rail-noise", "--out", out, "--json", summary, data_dir=out / "data")
    return proc, json.loads(summary.read_text()) if summary.exists() else {}


def metrics_of(summary: dict) -> dict[str, float]:
    return {m["name"]: m["value"] for m in summary["steps"][0]["metrics"]}


def test_default_profile_passes_with_every_metric(default_run):
    proc, summary = default_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary["verdict"] == "PASS" and summary["steps"][0]["procedure"] == "rail-noise"
    step = summary["steps"][0]
    assert [m["name"] for m in step["metrics"]] == METRICS
    assert all(m["value"] is not None and m["verdict"] == "PASS" for m in step["metrics"])
    values = metrics_of(summary)
    # the default DUT: 1.0 V + 1.5 mV set-point error, 1.2 MHz buck ripple, dips at the TX bursts
    assert values["rail_dc_v"] == pytest.approx(1.0015, abs=1e-3)
    assert values["switching_freq_hz"] == pytest.approx(1.2e6, abs=200e6 / 16384)    # one Welch bin


def test_run_file_holds_the_capture_the_noise_spectrum_and_the_scope_fft(default_run):
    _, summary = default_run
    with h5py.File(summary["run_file"], "r") as f:
        step = f["steps/01_rail-noise"]
        raw = step["captures/rail"]
        assert raw.dtype == np.int16 and raw.shape == (2_000_000,) and np.all(raw[:10000] % 64 == 0)
        attrs = json.loads(raw.attrs["attrs"])
        assert attrs["triggered"] and attrs["adc_bits"] == 10 and attrs["trigger_level_v"] < 1.0
        fft = step["captures/fft"]
        assert fft.attrs["x_unit"] == "Hz" and fft.attrs["y_unit"] == "dBuV" and fft.attrs["dx"] == 100.0
        psd = step["results/spectrum/psd_v2_hz"][()]
        freq = step["results/spectrum/freq_hz"][()]
        assert psd.shape == freq.shape and freq[-1] == pytest.approx(100e6)     # up to fs/2
        assert step["results/spurs/freq_hz"][0] == pytest.approx(1.2e6, rel=1e-3)
        env_min = step["results/envelope/min_v"][()]
        env_t = step["results/envelope/time_s"][()]
        assert env_t[np.argmin(env_min)] > 0        # the deepest dip follows the load-step trigger


def test_scope_vpp_and_vrms_agree_with_labbench_analysis(default_run):
    # The simulator computes VPP, VRMS and VAVerage with its own code on the codes it holds;
    # labbench's analysis band-limits the record again (zero-phase 20 MHz) before pk-pk and RMS, which
    # trims noise peaks the scope's VPP keeps: 3 % for pk-pk, 1 % for RMS (dominated by ripple and dips).
    _, summary = default_run
    values = metrics_of(summary)
    with h5py.File(summary["run_file"], "r") as f:
        res = f["steps/01_rail-noise/results"]
        scope = {k: float(v[()]) for k, v in res["scope_measurements"].items()}
        fft = {k: float(v[()]) for k, v in res["scope_fft"].items()}
    assert scope["vpp_v"] == pytest.approx(values["ripple_pp_v"], rel=0.03)
    assert scope["vrms_ac_v"] == pytest.approx(values["noise_rms_v"], rel=0.01)
    assert scope["vaverage_v"] == pytest.approx(values["rail_dc_v"], abs=50e-6)       # one 10-bit step
    # the scope's own FFT (one 2 Mpts Hann FFT) against the Welch spurs: same line, same RMS level
    assert fft["peak_freq_hz"] == pytest.approx(values["switching_freq_hz"], abs=200e6 / 16384)
    assert fft["peak_level_dbv"] == pytest.approx(values["spur_max_dbv"], abs=0.3)


def test_fault_rail_profile_fails_on_ripple_and_deviation_with_exit_1(tmp_path):
    summary = tmp_path / "F.json"
    proc = labbench("run", "rail-noise", "--out", tmp_path, "--json", summary,
                    "--dut-profile", PROFILES / "fault-rail.toml", data_dir=tmp_path / "data")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads(summary.read_text())
    failed = {m["name"] for m in data["steps"][0]["metrics"] if m["verdict"] == "FAIL"}
    assert {"ripple_pp_v", "worst_deviation_pct"} <= failed
    values = metrics_of(data)
    assert values["ripple_pp_v"] >= 0.060 and values["worst_deviation_pct"] > 3.0


def test_clipped_capture_is_reported_as_clipped_not_measured(tmp_path, runs_dir):
    # scale and offset fixed so the 1.0 V rail is above the screen (0.946..0.954 V): every sample clips
    from labbench.runner import run
    from labbench.store import read_step

    result = run("rail-noise", sets={"scale_v": "0.001", "offset_v": "0.95", "fft": "0"}, out=runs_dir)
    step = result.steps[0]
    assert result.exit_code == 2 and step.verdict == "ERROR"
    assert "clipped" in step.error and "2000000 of 2000000 samples" in step.error and "off screen" in step.error
    assert step.metrics == []                                            # nothing measured as if valid
    stored = read_step(result.run_file, step.step_name)
    assert stored.capture_names == ["rail"] and stored.capture("rail").clipped_count() == 2_000_000


def test_offset_outside_the_instrument_range_errors_naming_the_setting(tmp_path, runs_dir):
    from labbench.runner import run

    result = run("rail-noise", sets={"scale_v": "0.002", "offset_v": "30"}, out=runs_dir)
    step = result.steps[0]
    assert result.exit_code == 2 and step.verdict == "ERROR"
    assert "offset_v = 30.0" in step.error and "-222" in step.error and "allowed -24 to 24 V" in step.error


def test_figures_draw_rail_and_psd_from_the_stored_step(default_run):
    from labbench.procedures.rail_noise import RailNoise
    from labbench.store import read_step

    _, summary = default_run
    step = read_step(summary["run_file"], "01_rail-noise")
    titles = [title for title, _ in RailNoise().figures(step)]
    assert titles == ["Rail voltage", "Rail noise PSD"]


@pytest.mark.parametrize("wanted_v, step_v", [(0.3e-3, 1e-3), (1e-3, 1e-3), (1.01e-3, 2e-3), (2.1e-3, 5e-3),
                                              (0.012, 0.02), (0.05, 0.05), (0.051, 0.1)])
def test_autorange_rounds_the_scale_up_to_the_next_1_2_5_step(wanted_v, step_v):
    from labbench.procedures.rail_noise import nice_scale_v

    assert nice_scale_v(wanted_v) == pytest.approx(step_v)


@pytest.mark.parametrize("args, expected", [
    (["--set", "trigger=sometimes"], "valid values: load-step, auto"),
    (["--set", "bandwidth_hz=200e6"], "must be below half the sample rate"),
])
def test_bad_parameters_are_usage_errors(tmp_path, runs_dir, capsys, args, expected):
    from labbench.cli import main

    assert main(["run", "rail-noise", "--out", str(runs_dir), *args]) == 64
    assert expected in capsys.readouterr().err
