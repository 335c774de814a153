"""Infiniium .h5 reader, on files synthesized here after Keysight's published layout.

No real .h5 export is available, so the files are written by this test with plain h5py, following
"HDF5 Schema for Infiniium Oscilloscope Data" (Infiniium user's guide, helpfiles.keysight.com
.../Infiniium-UG/Content/Topics/Files/HDF5_Schema.htm): /FileType/KeysightH5FileType,
/Frame/TheFrame (Model, Serial, Date), /Waveforms/<Source> groups with XInc, XOrg, YInc, YOrg,
NumPoints, XUnits "Second", YUnits "Volt", datasets "<Source>Data" or "<Source> Seg<k>Data";
and the :DISK:SAVE:WAVeform H5 (float values) / H5INt (int16 codes, value = code*YInc + YOrg)
formats of the Infiniium programmer's guide.
"""

import h5py
import numpy as np
import pytest

from labbench.errors import ConfigError, FileFormatError
from labbench.fileformats.infiniium_h5 import read_infiniium_h5

XINC_S = 0.390625e-12
XORG_S = -3.1183e-9
F_HZ = 5e9
AMPLITUDE_V = 0.0625


def _sine(n=15_969):
    return AMPLITUDE_V * np.sin(2 * np.pi * F_HZ * (XORG_S + np.arange(n) * XINC_S))


def _file(path, sources, *, file_type=b"Keysight Waveform"):
    """sources: {group name: (attrs, {dataset name: (array, dataset attrs)})}"""
    with h5py.File(path, "w") as f:
        f.create_group("FileType").create_dataset("KeysightH5FileType", data=np.bytes_(file_type))
        frame_t = np.dtype([("Model", "S12"), ("Serial", "S12"), ("Date", "S22")])
        f.create_group("Frame").create_dataset(
            "TheFrame", data=np.array((b"DSAZ334A", b"MY12345678", b"2-Jul-2022 12:42:11"), dtype=frame_t))
        wf = f.create_group("Waveforms")
        wf.attrs["NumWaveforms"] = np.int32(len(sources))
        for name, (attrs, datasets) in sources.items():
            g = wf.create_group(name)
            for k, v in attrs.items():
                g.attrs[k] = v
            for ds_name, (data, ds_attrs) in datasets.items():
                ds = g.create_dataset(ds_name, data=data)
                for k, v in ds_attrs.items():
                    ds.attrs[k] = v
    return path


def _attrs(n, **extra):
    a = {"NumPoints": np.int32(n), "NumSegments": np.int32(0), "Count": np.int32(1), "XInc": XINC_S,
         "XOrg": XORG_S, "XUnits": np.bytes_(b"Second"), "YUnits": np.bytes_(b"Volt")}
    a.update(extra)
    return a


def _crossing_frequency_hz(v, dt_s):
    v = v - v.mean()
    i = np.flatnonzero((v[:-1] < 0) & (v[1:] >= 0))
    t = (i + v[i] / (v[i] - v[i + 1])) * dt_s
    return (len(t) - 1) / (t[-1] - t[0])


def test_float32_h5_export_values_are_the_stored_volts_without_yinc_scaling(tmp_path):
    v = _sine().astype(np.float32)
    # YInc/YOrg are present in a float export too; applying them would be wrong, so give them values
    # that would visibly change the result
    p = _file(tmp_path / "f.h5", {"Channel 1": (_attrs(v.size, YInc=0.5, YOrg=1.0), {"Channel 1Data": (v, {})})})
    (wf,) = read_infiniium_h5(p)
    assert wf.name == "Channel 1" and wf.segment is None and wf.frame == "DSAZ334A:MY12345678"
    assert not wf.is_integer and wf.y_increment is None
    np.testing.assert_array_equal(wf.values, v)
    assert (wf.x_units, wf.y_units) == ("s", "V")
    assert wf.x_increment_s == XINC_S and wf.time_s()[0] == XORG_S
    assert _crossing_frequency_hz(wf.values.astype(np.float64), wf.x_increment_s) == pytest.approx(F_HZ, rel=1e-4)


def test_int16_h5int_export_is_scaled_by_yinc_and_yorg_to_within_half_a_code(tmp_path):
    yinc_v, yorg_v = 4e-6, 0.01
    v = _sine()
    codes = np.round((v - yorg_v) / yinc_v).astype(np.int16)
    p = _file(tmp_path / "i.h5", {"Channel 3": (_attrs(v.size, YInc=yinc_v, YOrg=yorg_v),
                                                {"Channel 3Data": (codes, {})})})
    (wf,) = read_infiniium_h5(p)
    assert wf.is_integer and wf.raw.dtype == np.int16
    assert (wf.y_increment, wf.y_origin) == (yinc_v, yorg_v)
    assert wf.values.dtype == np.float64
    # rounding to the nearest code errs by at most half a code (plus float rounding)
    assert np.max(np.abs(wf.values - v)) <= 0.5 * yinc_v * (1 + 1e-9)
    assert np.ptp(wf.values) == pytest.approx(2 * AMPLITUDE_V, abs=yinc_v)


def test_sources_come_in_natural_order_and_segments_carry_their_time_tags(tmp_path):
    n = 100
    seg = {f"Channel 2 Seg{k}Data": (np.full(n, k, dtype=np.int16),
                                     {"SegmentedTimeTag": 1e-3 * (k - 1), "SegmentedXOrg": -1e-9 * k})
           for k in (1, 2, 10)}
    p = _file(tmp_path / "s.h5", {
        "Channel 10": (_attrs(n, YInc=1.0, YOrg=0.0), {"Channel 10Data": (np.zeros(n, np.int16), {})}),
        "Channel 2": (_attrs(n, YInc=0.5, YOrg=0.0, NumSegments=np.int32(3)), seg),
        "Memory 1": (_attrs(n), {"Memory 1Data": (np.ones(n, np.float32), {})}),
    })
    wfs = read_infiniium_h5(p)
    assert [(w.name, w.segment) for w in wfs] == [
        ("Channel 2", 1), ("Channel 2", 2), ("Channel 2", 10), ("Channel 10", None), ("Memory 1", None)]
    s10 = wfs[2]
    assert s10.time_tag_s == pytest.approx(9e-3) and s10.x_origin_s == pytest.approx(-10e-9)
    np.testing.assert_array_equal(s10.values, np.full(n, 5.0))


def test_integer_codes_without_yinc_cannot_become_volts(tmp_path):
    p = _file(tmp_path / "d.h5", {"Channel 1": (_attrs(10), {"Channel 1Data": (np.arange(10, dtype=np.int16), {})})})
    (wf,) = read_infiniium_h5(p)
    with pytest.raises(FileFormatError, match="YInc/YOrg"):
        wf.values


def test_a_file_that_is_not_hdf5_is_named_in_the_error(tmp_path):
    p = tmp_path / "capture.h5"
    p.write_bytes(b"AG10" + bytes(100))
    with pytest.raises(FileFormatError, match=r"capture\.h5: not an HDF5 file") as e:
        read_infiniium_h5(p)
    assert isinstance(e.value, ConfigError) and "\n" not in str(e.value)


def test_an_hdf5_file_without_waveforms_group_is_refused(tmp_path):
    p = tmp_path / "run.h5"
    with h5py.File(p, "w") as f:
        f.create_group("steps")
    with pytest.raises(FileFormatError, match=r"run\.h5: no /Waveforms group .*not an Infiniium"):
        read_infiniium_h5(p)


def test_an_empty_waveforms_group_is_zero_waveforms(tmp_path):
    p = _file(tmp_path / "e.h5", {"Channel 1": (_attrs(0), {})})
    with pytest.raises(FileFormatError, match=r"e\.h5: /Waveforms holds no waveform dataset"):
        read_infiniium_h5(p)


def test_a_source_without_xinc_is_reported_with_its_path(tmp_path):
    a = _attrs(5)
    del a["XInc"]
    p = _file(tmp_path / "x.h5", {"Channel 4": (a, {"Channel 4Data": (np.zeros(5, np.float32), {})})})
    with pytest.raises(FileFormatError, match=r"x\.h5: /Waveforms/Channel 4 lacks attribute XInc"):
        read_infiniium_h5(p)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileFormatError, match=r"gone\.h5: no such file"):
        read_infiniium_h5(tmp_path / "gone.h5")
