"""Vendor files into run files: the real captures in ../shared/data, synthesized edge cases, bad input."""
from pathlib import Path

import h5py
import numpy as np
import pytest

import labbench
from labbench.capture import Capture
from labbench.cli import main
from labbench.errors import FileFormatError, UsageError
from labbench.fileformats.keysight_bin import BinBuffer, BinWaveform, write_keysight_bin
from labbench.importer import detect_format, fitting_procedures, import_file, required_capture
from labbench.procedures.eye_jitter import EyeJitter, EyeJitterParams

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
UART = DATA / "keysight_dsox1102g_uart.bin"
SINE = DATA / "infiniium_n8900a_sinusoid_5g_125m.bin"
CABLE = DATA / "CABLE1_TX_pair.s4p"


def _real(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real capture {path.name} not present in {DATA} (the shared data folder is absent)")
    return path


def _nrz(rate_bps=1e6, samples_per_bit=20, bits=400, seed=3):
    """A 0/1 V NRZ record: random bits, linear edges over 4 samples, no jitter."""
    bits_ = np.random.default_rng(seed).integers(0, 2, bits)
    level = np.repeat(bits_.astype(np.float64), samples_per_bit)
    kernel = np.ones(4) / 4
    return np.convolve(level, kernel, mode="same").astype(np.float32), 1 / (rate_bps * samples_per_bit)


# ---------------------------------------------------------------- the must-show comparisons

@pytest.fixture(scope="module")
def uart_runs(tmp_path_factory):
    """The UART capture imported, and the same file replayed through the simulated DSAZ334A."""
    _real(UART)
    out = tmp_path_factory.mktemp("uart")
    imported = import_file(UART, out=out, sets={"nominal_rate_bps": 115200})
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LABBENCH_DATA", str(out))           # the run's trend index stays with the test
        replayed = labbench.run("eye-jitter", replay=str(UART), sets={"nominal_rate_bps": "115200"}, out=out)
    return imported, labbench.open_run(replayed.run_file)


def test_uart_import_keeps_the_float32_samples_and_axis_exactly(uart_runs):
    imported, _ = uart_runs
    data = imported["eye-jitter"].captures["data"]
    from labbench.fileformats.keysight_bin import read_keysight_bin
    (wf,) = read_keysight_bin(UART)
    assert data.shape == (999_999,) and data.dtype == np.float32
    assert np.array_equal(data.raw[:], wf.values)
    assert (data.x0, data.dx) == (wf.x_origin_s, wf.x_increment_s)


def test_uart_import_equals_the_replay_once_quantized_like_the_simulated_scope(uart_runs):
    # The replay is the import plus one step: the simulated scope's ADC (8 bits on the DSAZ334A, sent as
    # WORD codes; lsb = 8 div * scale / 224 with the scale the replay sets from the record's range).
    # Quantizing the imported volts with that simulator's own ADC reproduces the replay's stored codes bit
    # for bit, and then every metric agrees (measured: identical, so the 0.1 % bound has all its margin).
    from labbench.instruments.sim.dsaz334a import SimDSAZ334A

    imported, replayed = uart_runs
    rep = replayed["eye-jitter"].captures["data"]
    volts = imported["eye-jitter"].captures["data"].raw[:].astype(np.float64)
    codes, y_increment, y_origin = SimDSAZ334A(replay=str(UART)).quantize(volts, 1)
    assert np.array_equal(codes, rep.raw[:])
    quantized = Capture("data", codes, x0=rep.x0, dx=rep.dx, y_increment=y_increment, y_origin=y_origin)
    analysis = EyeJitter().analyze({"data": quantized}, EyeJitterParams(nominal_rate_bps=115200))
    for m in analysis.metrics:
        assert m.value == pytest.approx(replayed["eye-jitter"].metric(m.name), rel=1e-3), m.name


def test_uart_import_metrics_match_the_replay_within_0p1_percent_for_timing(uart_runs):
    # Without that quantization the two differ only by it: the file's own steps are 20.10 mV (the DSO-X
    # 1102G's ADC), the simulated scope's 20.82 mV, so the replay moves samples by up to 10 mV. Edge
    # times are interpolated between samples, so timing metrics move by < 0.1 % (measured: bit rate and
    # UI 2e-9 %, eye width 0.001 %, TIE rms 0.079 %, period jitter 0.085 %, RJ 0.071 %); metrics made of
    # extremes, levels or second differences move more (measured: eye height 0.33 %, DJ 0.26 %, DCD
    # 0.21 %, TIE pk-pk 0.18 %, rise time 0.16 %, fall time 0.10 %, TJ 0.10 %, c2c 0.097 %), all < 0.5 %.
    imported, replayed = uart_runs
    timing = ["bit_rate_bps", "ui_s", "eye_width_s", "eye_width_ui", "tie_rms_s", "period_jitter_rms_s", "rj_rms_s"]
    for m in imported["eye-jitter"].metric_list:
        theirs = replayed["eye-jitter"].metric(m.name)
        tolerance = 1e-3 if m.name in timing else 5e-3
        assert m.value == pytest.approx(theirs, rel=tolerance), m.name
    assert imported["eye-jitter"].metric("bit_rate_bps") == pytest.approx(113.19e3, rel=1e-3)  # ~1.7 % slow


def test_reanalyze_of_an_imported_run_reproduces_its_metrics(uart_runs, capsys):
    imported, _ = uart_runs
    again = imported.reanalyze("eye-jitter")
    stored = {m.name: m.value for m in imported["eye-jitter"].metric_list}
    assert {m.name: m.value for m in again.metric_list} == stored
    assert main(["reanalyze", str(imported.path)]) == 1          # the 10 Gb/s limits fail a UART: exit FAIL
    assert "bit_rate_deviation_ppm" in capsys.readouterr().out


def test_infiniium_sine_imports_as_15969_points_at_0p390625_ps_and_5_ghz(tmp_path):
    run = import_file(_real(SINE), out=tmp_path)
    step = run["eye-jitter"]
    data = step.captures["data"]
    assert len(data) == 15_969 and data.dx == 0.390625e-12
    # A sine crosses its middle twice per period, so eye-jitter's "bit rate" is twice the frequency;
    # ~31 periods at 512 samples each, crossings interpolated: better than 1e-5.
    assert step.metric("bit_rate_bps") / 2 == pytest.approx(5e9, rel=1e-5)
    v = data[:] - data[:].mean()
    i = np.flatnonzero((v[:-1] < 0) & (v[1:] >= 0))
    t = data.x(0)[i] + v[i] / (v[i] - v[i + 1]) * data.dx
    assert (i.size - 1) / (t[-1] - t[0]) == pytest.approx(5e9, rel=1e-5)


def test_touchstone_cable_imports_sdd21_as_a_capture_that_reanalyze_accepts(tmp_path, capsys):
    run = import_file(_real(CABLE), out=tmp_path)
    step = run["01_channel"]
    assert step.procedure == "" and set(step.capture_names) == {"sdd21", "sdd21_db"}
    db = step.captures["sdd21_db"].to_xarray()
    assert db.sizes["frequency"] == 6401
    # The touchstone reader's documented value for this cable: -2.8 dB at 1 GHz (rounded to 0.1 dB)
    assert float(db.sel(frequency=1e9, method="nearest")) == pytest.approx(-2.8, abs=0.05)
    assert main(["reanalyze", str(run.path)]) == 0
    assert "data only" in capsys.readouterr().out


# ---------------------------------------------------------------- synthesized files

def test_bin_with_lying_headers_imports_every_waveform_and_buffer(tmp_path):
    nrz, dt = _nrz()
    peak_max, peak_min = nrz + 0.01, nrz - 0.01
    digital = (nrz > 0.5).astype(np.uint8)
    waves = [
        BinWaveform((BinBuffer("float32", nrz),), dt, label="Channel 1", frame="DSOX3034T:MY1", points=12345),
        BinWaveform((BinBuffer("max", peak_max), BinBuffer("min", peak_min)), dt, label="Channel 2", type_code=2),
        BinWaveform((BinBuffer("digital", digital),), dt, label="Pod 1", type_code=6, y_units_code=3),
    ]
    path = write_keysight_bin(tmp_path / "three.bin", waves, header_size=144, file_size=7)   # both lie
    run = import_file(path, out=tmp_path, sets={"nominal_rate_bps": 1e6})
    names = [s.name for s in run]
    assert names == ["01_eye-jitter", "02_eye-jitter", "03_pod-1"]
    assert np.array_equal(run[0].captures["data"][:], nrz)
    assert run[0].captures["data"].attrs["header_points"] == 12345        # recorded, not trusted
    assert set(run[1].capture_names) == {"data", "min"} and np.array_equal(run[1].captures["min"][:], peak_min)
    assert run[2].procedure == "" and np.array_equal(run[2].captures["digital"].raw[:], digital)
    # 20 samples per bit, no jitter: the recovered rate is the written one to well within 10 ppm
    assert run[0].metric("bit_rate_bps") == pytest.approx(1e6, rel=1e-5)


def _infiniium_h5(path, data, **attrs):
    with h5py.File(path, "w") as f:
        f.create_group("FileType").create_dataset("KeysightH5FileType", data=np.bytes_(b"Keysight Waveform"))
        g = f.create_group("Waveforms").create_group("Channel 1")
        for k, v in {"XInc": 5e-8, "XOrg": 0.0, "XUnits": np.bytes_(b"Second"), "YUnits": np.bytes_(b"Volt"),
                     "NumPoints": np.int32(data.size), **attrs}.items():
            g.attrs[k] = v
        g.create_dataset("Channel 1Data", data=data)
    return path


def test_infiniium_h5_int16_codes_stay_raw_with_their_scale(tmp_path):
    nrz, _ = _nrz()
    y_inc, y_org = 1 / 30000, 0.5
    codes = np.rint((nrz - y_org) / y_inc).astype(np.int16)
    run = import_file(_infiniium_h5(tmp_path / "int.h5", codes, YInc=y_inc, YOrg=y_org), out=tmp_path,
                      analyze=False)
    data = run[0].captures["data"]
    assert data.dtype == np.int16 and np.array_equal(data.raw[:], codes)
    assert np.allclose(data[:], codes * y_inc + y_org, rtol=0, atol=1e-12)


def test_infiniium_h5_float_values_are_kept_as_stored(tmp_path):
    nrz, _ = _nrz()
    run = import_file(_infiniium_h5(tmp_path / "float.h5", nrz, YInc=1.0, YOrg=5.0), out=tmp_path, analyze=False)
    data = run[0].captures["data"]
    assert data.dtype == np.float32 and np.array_equal(data[:], nrz)     # YInc/YOrg not applied to floats


def test_two_port_touchstone_gives_s21(tmp_path):
    import skrf

    f = skrf.Frequency(1, 10, 10, unit="GHz")
    s = np.zeros((10, 2, 2), complex)
    s[:, 1, 0] = s[:, 0, 1] = 0.5
    skrf.Network(frequency=f, s=s, name="pad").write_touchstone(str(tmp_path / "pad"))
    run = import_file(tmp_path / "pad.s2p", out=tmp_path)
    assert run[0].captures["s21_db"][:] == pytest.approx(np.full(10, 20 * np.log10(0.5)))


# ---------------------------------------------------------------- bad input

def _truncated_bin(tmp_path) -> Path:
    nrz, dt = _nrz()
    path = write_keysight_bin(tmp_path / "cut.bin", [BinWaveform((BinBuffer("float32", nrz),), dt)])
    path.write_bytes(path.read_bytes()[:-1000])
    return path


def test_truncated_bin_is_a_one_line_error_naming_the_file(tmp_path):
    path = _truncated_bin(tmp_path)
    with pytest.raises(FileFormatError) as err:
        import_file(path, out=tmp_path)
    text = str(err.value)
    assert str(path) in text and "truncated buffer" in text and "\n" not in text


def test_truncated_bin_through_the_cli(tmp_path, capsys):
    path = _truncated_bin(tmp_path)
    assert main(["import", str(path), "--out", str(tmp_path)]) == 64
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "truncated" in err
    assert not list(tmp_path.glob("*.h5"))                                # no half-written run file


@pytest.mark.parametrize("content, says", [
    (b"hello, not a capture", "not a capture file labbench imports"),
    (b"\x89HDF-but-not-really", "not an HDF5 file"),
])
def test_unrecognised_files_through_the_cli(tmp_path, capsys, content, says):
    path = tmp_path / ("thing.h5" if b"HDF" in content else "thing.dat")
    path.write_bytes(content)
    assert main(["import", str(path), "--out", str(tmp_path)]) == 64
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and says in err


def test_importing_a_run_file_says_it_already_is_one(tmp_path):
    nrz, dt = _nrz()
    run = import_file(write_keysight_bin(tmp_path / "a.bin", [BinWaveform((BinBuffer("float32", nrz),), dt)]),
                      out=tmp_path, analyze=False)
    with pytest.raises(FileFormatError, match="already a labbench run file"):
        detect_format(run.path)


def test_cli_import_writes_a_run_file_and_shows_it(tmp_path, capsys):
    nrz, dt = _nrz()
    path = write_keysight_bin(tmp_path / "nrz.bin", [BinWaveform((BinBuffer("float32", nrz),), dt, label="Channel 1")])
    # exit 1: the default limits are a 10 Gb/s link's, and this 1 Mb/s record's edges take ~100 ns
    assert main(["import", str(path), "--out", str(tmp_path / "runs"), "--set", "nominal_rate_bps=1e6"]) == 1
    out = capsys.readouterr().out
    (run_file,) = (tmp_path / "runs").glob("*.h5")
    assert f"-> {run_file}" in out and "step 01_eye-jitter" in out and "bit_rate_bps" in out
    assert "verdict: FAIL" in out
    assert labbench.open_run(run_file)["eye-jitter"].parameters["nominal_rate_bps"] == 1e6
    assert main(["import", str(path), "--out", str(tmp_path / "raw"), "--procedure", "none"]) == 0
    (raw_file,) = (tmp_path / "raw").glob("*.h5")
    assert [s.name for s in labbench.open_run(raw_file)] == ["01_channel-1"]


def _nrz_bin(tmp_path, label="Channel 1", name="nrz.bin", values=None) -> Path:
    nrz, dt = _nrz()
    return write_keysight_bin(tmp_path / name, [BinWaveform((BinBuffer("float32", nrz if values is None else values),),
                                                            dt, label=label)])


def test_truncated_run_file_given_to_import_is_a_one_line_error(tmp_path, capsys):
    run = import_file(_nrz_bin(tmp_path), out=tmp_path / "runs", analyze=False)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(run.path.read_bytes()[:20_000])            # the HDF5 signature survives, the rest does not
    assert main(["import", str(cut), "--out", str(tmp_path / "again")]) == 64
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(cut) in err and "truncated" in err
    assert not (tmp_path / "again").exists()


def test_each_procedure_names_the_capture_its_analysis_reads_first():
    from labbench.procedures.rail_noise import RailNoise

    assert required_capture(EyeJitter) == "data" and required_capture(RailNoise) == "rail"
    assert fitting_procedures(["data"]) == ["eye-jitter"]       # an imported waveform is capture "data"


def test_procedure_whose_captures_the_file_lacks_is_refused_listing_those_that_fit(tmp_path, capsys):
    path = _nrz_bin(tmp_path)
    with pytest.raises(UsageError, match=r"rail-noise: its analysis reads capture 'rail'.*fit: eye-jitter"):
        import_file(path, out=tmp_path / "runs", procedure="rail-noise")
    assert main(["import", str(path), "--out", str(tmp_path / "runs"), "--procedure", "rail-noise"]) == 64
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "'data'" in err and "eye-jitter" in err
    assert not (tmp_path / "runs").exists()                     # refused before anything was written


def _pass_everything(tmp_path) -> str:
    limits = tmp_path / "loose.toml"
    limits.write_text("[eye-jitter]\ntj_s = { high = 1.0 }\n")
    return str(limits)


@pytest.mark.parametrize("case, code", [("fail", 1), ("pass", 0), ("error", 2), ("none", 0), ("no-analyze", 0)])
def test_import_exits_with_the_verdict_like_run(tmp_path, capsys, case, code):
    flat = np.full(8000, 0.5, dtype=np.float32) if case == "error" else None     # no edges: analysis error
    path = _nrz_bin(tmp_path, values=flat)
    extra = {"fail": [], "pass": ["--limits", _pass_everything(tmp_path)], "error": [],
             "none": ["--procedure", "none"], "no-analyze": ["--no-analyze"]}[case]
    assert main(["import", str(path), "--out", str(tmp_path / "runs"), "--set", "nominal_rate_bps=1e6", *extra]) \
        == code
    verdict = labbench.open_run(next((tmp_path / "runs").glob("*.h5"))).verdict
    assert verdict == {"fail": "FAIL", "pass": "PASS", "error": "ERROR", "none": "", "no-analyze": ""}[case]


def test_import_help_states_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    assert "0 PASS, 1 FAIL, 2 ERROR" in " ".join(capsys.readouterr().out.split())


def test_data_only_step_is_named_by_the_channel_not_a_bare_number(tmp_path):
    run = import_file(_nrz_bin(tmp_path, label="1"), out=tmp_path, procedure="none")    # InfiniiVision says "1"
    assert [s.name for s in run] == ["01_channel-1"]


def _pad_s2p(tmp_path) -> Path:
    import skrf

    f = skrf.Frequency(1, 10, 10, unit="GHz")
    s = np.zeros((10, 2, 2), complex)
    s[:, 1, 0] = s[:, 0, 1] = 0.5
    skrf.Network(frequency=f, s=s, name="pad").write_touchstone(str(tmp_path / "pad"))
    return tmp_path / "pad.s2p"


def test_touchstone_channel_draws_its_transfer_in_db_in_a_notebook(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    run = import_file(_pad_s2p(tmp_path), out=tmp_path)
    ((title, fig),) = run[0].figures()
    assert title == "S21 in dB against frequency"
    (line,) = fig.axes[0].get_lines()
    x, y = line.get_data()
    # a 0.5 pad is -6.02 dB at every frequency; the axis in GHz, 1 to 10 GHz
    assert y == pytest.approx(np.full(10, 20 * np.log10(0.5))) and x == pytest.approx(np.linspace(1, 10, 10))
    assert fig.axes[0].get_xlabel() == "frequency [GHz]"


def test_touchstone_cable_report_has_the_sdd21_plot(tmp_path):
    import base64
    import io
    import re

    from matplotlib.image import imread

    from labbench.report import render_html

    run = import_file(_real(CABLE), out=tmp_path)
    html = render_html(run.path)
    assert "is not installed" not in html
    (png,) = re.findall(r'<img alt="Sdd21 in dB against frequency" src="data:image/png;base64,([^"]+)"', html)
    image = imread(io.BytesIO(base64.b64decode(png)), format="png")[..., :3]
    assert image.shape[1] > 300 and np.std(image) > 0.01           # a drawn plot, not a blank canvas


def test_out_that_is_a_file_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the folder would go")
    for out in (blocker, blocker / "runs"):
        assert main(["import", str(_nrz_bin(tmp_path)), "--out", str(out)]) == 64
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"--out {out}" in err


def test_out_the_file_system_refuses_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    import labbench.importer

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(labbench.importer, "RunWriter", refuse)   # a read-only share, as root or not
    assert main(["import", str(_nrz_bin(tmp_path)), "--out", str(tmp_path / "runs")]) == 64
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Permission denied" in err and str(tmp_path / "runs") in err
