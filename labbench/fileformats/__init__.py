"""Readers (and a writer) for vendor data files: Keysight .bin, Infiniium .h5, Touchstone channels.

Names are imported on first use, so reading a .bin file does not pay for importing h5py and scikit-rf.
"""

import importlib

_WHERE = {
    "BinBuffer": "keysight_bin", "BinWaveform": "keysight_bin",
    "read_keysight_bin": "keysight_bin", "write_keysight_bin": "keysight_bin",
    "H5Waveform": "infiniium_h5", "read_infiniium_h5": "infiniium_h5",
    "load_differential_thru": "touchstone", "impulse_response": "touchstone",
    "dc_gain": "touchstone", "sdd21": "touchstone",
}
__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
