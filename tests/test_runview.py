"""open_run: lazy captures, DataFrames, xarray, reanalysis without an instrument, and bad run files."""
import hashlib
import sys

import h5py
import numpy as np
import pytest

import labbench
from labbench.capture import Capture
from labbench.cli import main
from labbench.errors import ConfigError, StoreError
from labbench.limits import Metric
from labbench.store import FORMAT_VERSION, RunWriter

HOLE = 31232


@pytest.fixture
def run_file(tmp_path):
    """A two-step run written with RunWriter: int16 codes with a hole, metrics with limits."""
    writer = RunWriter(tmp_path / "r.h5", "r-1", {"station": "test"})
    step = writer.begin_step(1, "eye-jitter", {"ber": 1e-12})
    codes = (np.arange(3_000_000) % 200 - 100).astype(np.int16)
    codes[5] = HOLE
    writer.write_capture(step, Capture("data", codes, x0=-1e-6, dx=1e-11, y_increment=0.01, y_origin=0.5,
                                       hole_code=HOLE, settings={"scale_v": 0.1}))
    writer.write_metrics(step, [Metric("tj_s", 20e-12, "s", None, 28e-12, "PASS"),
                                Metric("ui_s", 97e-12, "s")])
    writer.end_step(step, "PASS")
    other = writer.begin_step(2, "", {}, label="notes")
    writer.write_capture(other, Capture("trace", np.linspace(-50, -40, 11), x0=1e9, dx=1e6, x_unit="Hz",
                                        y_unit="dBm"))
    writer.end_step(other, "")
    writer.finish("complete", "PASS")
    return tmp_path / "r.h5"


def test_steps_by_position_name_and_procedure(run_file):
    run = labbench.open_run(run_file)
    assert (run.run_id, run.status, run.verdict, len(run)) == ("r-1", "complete", "PASS", 2)
    assert run[0] is run["01_eye-jitter"] is run["eye-jitter"]
    assert run["02_notes"].procedure == "" and run[0].parameters == {"ber": 1e-12}
    with pytest.raises(KeyError, match="no step 'rf-reach'.*01_eye-jitter, 02_notes"):
        run["rf-reach"]


def test_capture_slice_reads_only_that_slice(run_file, monkeypatch):
    data = labbench.open_run(run_file)["eye-jitter"].captures["data"]
    asked = []
    original = h5py.Dataset.__getitem__
    monkeypatch.setattr(h5py.Dataset, "__getitem__", lambda self, key: asked.append(key) or original(self, key))
    volts = data[1_000_000:1_000_004]
    assert asked == [slice(1_000_000, 1_000_004)]            # one read, of four samples, not the 3 M
    codes = (np.arange(1_000_000, 1_000_004) % 200 - 100)
    assert volts == pytest.approx(codes * 0.01 + 0.5)
    assert data.x(1_000_000, 1_000_002) == pytest.approx([-1e-6 + 1e-5, -1e-6 + 1e-5 + 1e-11])


def test_capture_values_have_holes_as_nan_and_raw_stays_codes(run_file):
    data = labbench.open_run(run_file)["eye-jitter"].captures["data"]
    assert np.isnan(data[:10][5]) and data.raw[5] == HOLE
    assert len(data) == 3_000_000 and data.y_unit == "V" and data.settings == {"scale_v": 0.1}


def test_to_xarray_carries_axis_and_units(run_file):
    run = labbench.open_run(run_file)
    da = run["eye-jitter"].captures["data"].to_xarray(100, 110)
    assert da.dims == ("time",) and da.attrs["units"] == "V" and da["time"].attrs["units"] == "s"
    assert float(da["time"][0]) == pytest.approx(-1e-6 + 100 * 1e-11)
    trace = run["02_notes"].captures["trace"].to_xarray()
    assert trace.dims == ("frequency",) and float(trace.sel(frequency=1.005e9)) == pytest.approx(-45.0)


def test_metrics_dataframe_has_every_step_with_limits(run_file):
    df = labbench.open_run(run_file).metrics
    assert list(df.columns) == ["step", "procedure", "name", "value", "unit", "low", "high", "verdict"]
    row = df.set_index("name").loc["tj_s"]
    assert (row["value"], row["high"], row["verdict"]) == (20e-12, 28e-12, "PASS")
    assert np.isnan(row["low"])


def test_missing_pandas_says_which_extra_to_install(run_file, monkeypatch):
    run = labbench.open_run(run_file)
    monkeypatch.setitem(sys.modules, "pandas", None)          # import pandas now raises ImportError
    with pytest.raises(ImportError, match=r'needs pandas.*pip install "labbench\[jupyter\]"'):
        run.metrics


def test_reanalyze_mapping_limits_refuse_unknown_metrics(run_file):
    with pytest.raises(ConfigError, match="unknown metric.*tj_ps"):
        labbench.open_run(run_file).reanalyze("eye-jitter", limits={"tj_ps": {"high": 1}})


# ---------------------------------------------------------------- bad run files: one line naming the file

def _not_hdf5(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("not HDF5 at all\n")
    return path, "not an HDF5 file"


def _not_a_run(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = [1, 2, 3]
    return path, "not a labbench run"


def _newer(tmp_path):
    path = tmp_path / "future.h5"
    RunWriter(path, "f", {})
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 1
    return path, f"run format {FORMAT_VERSION + 1} is newer"


@pytest.mark.parametrize("make", [_not_hdf5, _not_a_run, _newer])
def test_bad_run_files_are_one_line_errors_naming_the_file(tmp_path, capsys, make):
    path, says = make(tmp_path)
    with pytest.raises(StoreError) as err:
        labbench.open_run(path)
    assert str(path) in str(err.value) and says in str(err.value) and "\n" not in str(err.value)
    for command in ("reanalyze", "show"):
        assert main([command, str(path)]) == 2
        err_text = capsys.readouterr().err.strip()
        assert len(err_text.splitlines()) == 1 and str(path) in err_text and says in err_text


# ---------------------------------------------------------------- a run from the simulated bench

@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LABBENCH_DATA", str(out))           # the run's trend index stays with the test
        result = labbench.run("eye-jitter", sets={"points": "200000"}, out=out)
    assert result.verdict == "PASS", result.summary()
    return labbench.open_run(result.run_file)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_reanalyze_with_tighter_limits_flips_pass_to_fail(bench_run, tmp_path, capsys):
    tj_s = bench_run["eye-jitter"].metric("tj_s")
    tighter = tmp_path / "tighter.toml"
    tighter.write_text(f'[eye-jitter]\ntj_s = {{ high = {tj_s / 2!r} }}\n')      # half the measured TJ
    before = _sha(bench_run.path)
    assert main(["reanalyze", str(bench_run.path)]) == 0
    assert "verdict: PASS" in capsys.readouterr().out
    assert main(["reanalyze", str(bench_run.path), "--limits", str(tighter)]) == 1
    out = capsys.readouterr().out
    assert "verdict: FAIL" in out and [line for line in out.splitlines() if "tj_s" in line][0].endswith("FAIL")
    assert _sha(bench_run.path) == before                                        # the run file is not changed


def test_run_reanalyze_recomputes_the_stored_metrics_and_judges_new_limits(bench_run):
    stored = {m.name: m.value for m in bench_run["eye-jitter"].metric_list}
    again = bench_run.reanalyze("eye-jitter", limits={"tj_s": {"high": stored["tj_s"] / 2}})
    assert {m.name: m.value for m in again.metric_list} == stored                # same code, same captures
    assert again.verdict == "FAIL" and again.metrics.set_index("name").loc["tj_s", "verdict"] == "FAIL"
    pll = bench_run.reanalyze("eye-jitter", clock_recovery="pll")
    assert pll.parameters["clock_recovery"] == "pll" and pll.metric("tie_rms_s") != stored["tie_rms_s"]


def test_stored_step_draws_eye_bathtub_histogram_and_spectrum(bench_run):
    import matplotlib

    matplotlib.use("Agg")
    figures = bench_run["eye-jitter"].figures()
    assert [title for title, _ in figures] == ["Eye diagram", "Bathtub", "TIE histogram", "TIE spectrum"]
    assert all(fig.axes and fig.axes[0].has_data() for _, fig in figures)


def test_a_reanalysis_draws_the_same_figures_from_its_new_results(bench_run):
    import matplotlib

    matplotlib.use("Agg")
    again = bench_run.reanalyze("eye-jitter", clock_recovery="pll")
    assert [title for title, _ in again.figures()] == ["Eye diagram", "Bathtub", "TIE histogram", "TIE spectrum"]


def test_reanalyze_mapping_limits_override_the_default_file_for_those_metrics_only(bench_run):
    from labbench.limits import load_limits
    from labbench.runner import DEFAULT_LIMITS

    default = load_limits(DEFAULT_LIMITS).for_procedure("eye-jitter")
    again = bench_run.reanalyze("eye-jitter", limits={"tj_s": {"high": 20e-12}})
    bounds = {m.name: (m.low, m.high) for m in again.metric_list}
    assert bounds["tj_s"] == (None, 20e-12)
    assert {name: bounds[name] for name in default if name != "tj_s"} == {k: v for k, v in default.items()
                                                                         if k != "tj_s"}
    assert len(default) > 5                      # the default file judges many more metrics than tj_s
    loose = bench_run.reanalyze("eye-jitter", limits={"rj_rms_s": None})          # None: no limit
    rj = next(m for m in loose.metric_list if m.name == "rj_rms_s")
    assert (rj.low, rj.high, rj.verdict) == (None, None, "-")


def test_reanalyze_with_a_limits_file_replaces_the_limits(bench_run, tmp_path):
    only_tj = tmp_path / "only-tj.toml"
    only_tj.write_text("[eye-jitter]\ntj_s = { high = 20e-12 }\n")
    again = bench_run.reanalyze("eye-jitter", limits=str(only_tj))
    judged = {m.name for m in again.metric_list if m.verdict != "-"}
    assert judged == {"tj_s"}


def test_reanalyze_mapping_limits_with_a_misspelt_bound_is_refused(run_file):
    with pytest.raises(ConfigError, match="tj_s: unknown key.*hi"):
        labbench.open_run(run_file).reanalyze("eye-jitter", limits={"tj_s": {"hi": 1}})
