"""Keysight/Agilent .bin reader and writer: the real captures in ../shared/data and synthesized edge cases."""

from pathlib import Path

import numpy as np
import pytest

from labbench.errors import ConfigError, FileFormatError
from labbench.fileformats.keysight_bin import BinBuffer, BinWaveform, read_keysight_bin, write_keysight_bin

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
UART = DATA / "keysight_dsox1102g_uart.bin"
SINE = DATA / "infiniium_n8900a_sinusoid_5g_125m.bin"


def _real(path):
    if not path.exists():
        pytest.skip(f"real capture {path.name} not present in {DATA}")
    return read_keysight_bin(path)


def _rising_crossing_frequency_hz(v, dt_s):
    """Frequency from linearly interpolated rising zero crossings (mean removed)."""
    v = v.astype(np.float64) - v.mean()
    i = np.flatnonzero((v[:-1] < 0) & (v[1:] >= 0))
    t = (i + v[i] / (v[i] - v[i + 1])) * dt_s
    return (len(t) - 1) / (t[-1] - t[0])


# --- the real captures -------------------------------------------------------------------------

def test_dsox1102g_uart_capture_reads_as_one_waveform_of_999999_float32_points_at_50_ns():
    (wf,) = _real(UART)
    assert wf.frame.startswith("DSO-X 1102G")
    assert wf.points == 999_999 and wf.values.shape == (999_999,)
    assert wf.values.dtype == np.float32 and wf.buffers[0].kind == "float32"
    assert wf.x_increment_s == pytest.approx(50e-9, rel=1e-9)  # 20 MSa/s
    assert (wf.x_units, wf.y_units) == ("s", "V")
    # a 0 / 3.3 V UART line: overshoot and ringing stay within a few hundred mV of the rails
    assert -0.3 < wf.values.min() < 0.3 and 3.0 < wf.values.max() < 3.6
    t = wf.time_s()
    assert t.dtype == np.float64 and t[0] == wf.x_origin_s
    assert t[-1] == pytest.approx(wf.x_origin_s + 999_998 * 50e-9, rel=1e-12)


def test_n8900a_sine_capture_is_5_ghz_125_mv_peak_to_peak_at_0p390625_ps():
    (wf,) = _real(SINE)
    assert wf.label == "Channel 1" and wf.frame.startswith("N8900A")
    assert wf.points == 15_969 and wf.values.shape == (15_969,)
    assert wf.x_increment_s == pytest.approx(0.390625e-12, rel=1e-9)
    f_hz = _rising_crossing_frequency_hz(wf.values, wf.x_increment_s)
    # ~31 periods of an ideal synthesized sine: crossings interpolated on 512 samples/period are
    # good to far better than 1e-4
    assert f_hz == pytest.approx(5e9, rel=1e-4)
    # the file's "125m" is the peak-to-peak value: amplitude 62.5 mV
    assert np.ptp(wf.values) == pytest.approx(0.125, rel=0.01)
    spectrum = np.abs(np.fft.rfft(wf.values - wf.values.mean()))
    f_peak_hz = np.fft.rfftfreq(wf.points, wf.x_increment_s)[np.argmax(spectrum)]
    assert abs(f_peak_hz - 5e9) <= 1 / (wf.points * wf.x_increment_s)  # within one FFT bin


# --- synthesized files ---------------------------------------------------------------------------

def _wave(n=1000, label="1", **kw):
    v = np.sin(np.arange(n) / 7.0).astype(np.float32)
    return BinWaveform(buffers=(BinBuffer("float32", v),), x_increment_s=1e-9, x_origin_s=-2.5e-7,
                       label=label, frame="DSO-X 1102G:CN00000000", date="2 JUL 2022", time="12:42:11", **kw)


def test_written_file_reads_back_field_for_field(tmp_path):
    wf = _wave(count=4, type_code=3, time_tag_s=1.5, segment_index=2, x_display_range=1e-6,
               x_display_origin=-5e-7)
    (back,) = read_keysight_bin(write_keysight_bin(tmp_path / "a.bin", [wf]))
    for name in ("label", "frame", "date", "time", "type_code", "points", "count", "x_increment_s",
                 "x_origin_s", "x_units_code", "y_units_code", "time_tag_s", "segment_index",
                 "x_display_origin"):
        assert getattr(back, name) == getattr(wf, name), name
    assert back.x_display_range == pytest.approx(1e-6, rel=1e-7)  # stored as float32
    assert back.kind == "average"
    np.testing.assert_array_equal(back.values, wf.values)


def test_rigol_rg_cookie_is_accepted(tmp_path):
    (back,) = read_keysight_bin(write_keysight_bin(tmp_path / "r.bin", [_wave()], cookie=b"RG"))
    assert back.points == 1000


def test_144_byte_waveform_headers_are_skipped_by_their_declared_size(tmp_path):
    wfs = [_wave(label="1"), _wave(label="2")]
    back = read_keysight_bin(write_keysight_bin(tmp_path / "h.bin", wfs, header_size=144))
    assert [w.label for w in back] == ["1", "2"]
    np.testing.assert_array_equal(back[1].values, wfs[1].values)


@pytest.mark.parametrize("file_size", [0, 12, 999_999_999, -1])
def test_a_wrong_file_size_field_is_ignored(tmp_path, file_size):
    (back,) = read_keysight_bin(write_keysight_bin(tmp_path / "s.bin", [_wave()], file_size=file_size))
    np.testing.assert_array_equal(back.values, _wave().values)


def test_several_waveforms_with_max_and_min_buffers_keep_their_kinds_and_order(tmp_path):
    hi = np.linspace(0, 1, 500, dtype=np.float32)
    peak = BinWaveform(buffers=(BinBuffer("max", hi), BinBuffer("min", hi - 0.5)), x_increment_s=2e-9,
                       label="2", type_code=2)
    pod = BinWaveform(buffers=(BinBuffer("digital", np.arange(500, dtype=np.uint8)),), x_increment_s=2e-9,
                      label="D0-7", type_code=6, y_units_code=0)
    back = read_keysight_bin(write_keysight_bin(tmp_path / "m.bin", [_wave(), peak, pod]))
    assert [w.label for w in back] == ["1", "2", "D0-7"]
    assert [w.kind for w in back] == ["normal", "peak detect", "logic"]
    assert [b.kind for b in back[1].buffers] == ["max", "min"]
    np.testing.assert_array_equal(back[1].buffers[1].data, hi - 0.5)
    np.testing.assert_array_equal(back[1].values, hi)  # no 'float32' buffer: the first float one
    assert back[2].buffers[0].data.dtype == np.uint8 and back[2].buffers[0].points == 500
    with pytest.raises(FileFormatError, match="no float buffer"):
        back[2].values


def test_a_buffer_of_undocumented_type_is_kept_as_raw_bytes(tmp_path):
    odd = BinBuffer("unknown", np.arange(30, dtype=np.uint8).reshape(10, 3), type_code=0)
    wf = BinWaveform(buffers=(odd,), x_increment_s=1e-9)
    (back,) = read_keysight_bin(write_keysight_bin(tmp_path / "u.bin", [wf]))
    assert back.buffers[0].data.shape == (10, 3) and back.buffers[0].bytes_per_point == 3


def test_truncated_buffer_error_says_bytes_expected_and_present(tmp_path):
    p = write_keysight_bin(tmp_path / "t.bin", [_wave()])
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(FileFormatError) as e:
        read_keysight_bin(p)
    msg = str(e.value)
    assert "t.bin" in msg and "truncated buffer" in msg and "4000 bytes expected, 3900 present" in msg
    assert "\n" not in msg
    assert isinstance(e.value, ConfigError)


def test_truncated_waveform_header_is_reported(tmp_path):
    p = write_keysight_bin(tmp_path / "t.bin", [_wave()])
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(FileFormatError, match=r"t\.bin: truncated waveform header .*140 bytes expected, 88 present"):
        read_keysight_bin(p)


def test_file_claiming_more_waveforms_than_it_holds_is_reported_as_truncated(tmp_path):
    p = write_keysight_bin(tmp_path / "t.bin", [_wave()])
    raw = bytearray(p.read_bytes())
    raw[8:12] = (2).to_bytes(4, "little")
    p.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match="waveform 2 of 2.*0 present"):
        read_keysight_bin(p)


def test_bad_cookie_is_not_a_bin_file(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(FileFormatError, match=r"x\.bin: not a Keysight/Agilent \.bin file"):
        read_keysight_bin(p)


def test_zero_waveforms_is_an_error(tmp_path):
    p = write_keysight_bin(tmp_path / "z.bin", [])
    with pytest.raises(FileFormatError, match=r"z\.bin: .*0 waveforms"):
        read_keysight_bin(p)


def test_missing_file_is_a_file_format_error_naming_it(tmp_path):
    with pytest.raises(FileFormatError, match="nope.bin"):
        read_keysight_bin(tmp_path / "nope.bin")


def test_truncated_file_header_is_reported(tmp_path):
    p = tmp_path / "s.bin"
    p.write_bytes(b"AG10\x00\x00")
    with pytest.raises(FileFormatError, match="truncated file header: 12 bytes expected, 6 present"):
        read_keysight_bin(p)
