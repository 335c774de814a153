"""Where the DUT's radio is, for the RF procedures: the parameters if given, else the simulated DUT's
[radio] section (instruments/sim/rf_scene.py), else the defaults of a real bench."""
from __future__ import annotations

from labbench.analysis.interference import wifi24_center_hz


def _radio(bench) -> dict:
    return bench.profile.section("radio") if getattr(bench, "profile", None) is not None else {}


def dut_center_hz(bench, channel: int | None, center_hz: float | None) -> float:
    """The DUT's carrier: the parameter, else the simulated DUT's [radio] channel, else channel 6."""
    if center_hz:
        return float(center_hz)
    radio = _radio(bench)
    if channel is None and radio.get("center_hz"):
        return float(radio["center_hz"])
    return wifi24_center_hz(int(channel or radio.get("channel", 6)))


def dut_input_loss_db(bench, input_loss_db: float | None) -> float:
    """Loss from the DUT's port to the analyzer: the parameter, else the simulated DUT's path loss, else 0."""
    if input_loss_db is not None:
        return float(input_loss_db)
    return float(_radio(bench).get("path_loss_db", 0.0))
