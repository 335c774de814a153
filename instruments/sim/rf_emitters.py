"""Emitters on the air around the simulated DUT, for the simulated N9030B's RF scene.

Every emitter follows the scene's protocol (``name``, ``kind``, ``power_dbm(freq_hz, t_s, rbw_hz)``,
``iq(...)``): the power (dBm at the analyzer input) that a Gaussian resolution filter of 3 dB bandwidth
``rbw_hz`` centred at each ``freq_hz`` passes at each instant ``t_s`` (−inf when silent). The scene adds
the analyzer's noise floor and applies detectors. None of these emitters models its waveform for
power statistics: ``iq`` returns None.

2.4 GHz environment, from the DUT profile's ``[environment]`` section (standards.md §4):
- Wi-Fi access points: 802.11 OFDM 20 MHz spectra on a channel (2412 + 5(n − 1) MHz), transmitting in
  ``slot_s`` slots, each slot busy with probability ``duty_cycle`` (a fixed pseudo-random pattern per
  access point, so runs repeat).
- BLE advertisers: advertising events every ``interval_s`` (plus a 0–10 ms pseudo-random advDelay), one
  packet of ``packet_s`` on 37, 38 and 39 (2402, 2426, 2480 MHz) in turn, ``hop_s`` apart; GFSK
  shape as a Gaussian of σ = 350 kHz (labbench.analysis.spectrum.ble_psd_dbr).
- Microwave ovens: the magnetron conducts on one half of each mains cycle; while on, its line (Gaussian,
  σ = ``line_sigma_hz``) sweeps from ``start_hz`` up by ``sweep_hz`` over the half cycle.

5 GHz DFS scenario, from ``[dfs]``: :mod:`labbench.instruments.sim.dfs_scenario` (re-exported here as
:func:`build_dfs`).

Profile example (every key optional; ``enabled = false`` empties the section)::

    [environment]
    seed = 3
    wifi = [{ name = "ap-office", channel = 1, level_dbm = -62.0, duty_cycle = 0.3 }]
    ble = [{ level_dbm = -70.0, interval_s = 0.05 }]
    microwave = [{ level_dbm = -60.0, mains_hz = 50.0 }]

Levels (``level_dbm``) are at the analyzer input: channel power for Wi-Fi, packet power for BLE, line
power for the oven.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields

import numpy as np

from labbench.analysis.interference import BLE_ADV_CHANNELS, wifi24_center_hz
from labbench.analysis.spectrum import GAUSSIAN_RBW_ENBW_RATIO, ofdm20_psd_w_hz
from labbench.errors import ConfigError, UsageError
from labbench.instruments.sim.dut import DutProfile

FOUR_LN2 = 4.0 * math.log(2.0)
BLE_SIGMA_HZ = 0.35e6            # labbench.analysis.spectrum.ble_psd_dbr: −20 dB width 1.5 MHz
OFDM_EXTENT_HZ = 60e6            # the OFDM shape is cut off here (−55 dBr beyond 40 MHz, then nothing)


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------

def to_dbm(mw: np.ndarray) -> np.ndarray:
    """mW → dBm, −inf for 0."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(mw)


def gaussian_rbw_sigma_hz(rbw_hz: float) -> float:
    """σ of the Gaussian power response |H|² = exp(−4 ln2 (Δf/RBW)²) of a 3 dB bandwidth RBW filter."""
    return rbw_hz / math.sqrt(2.0 * FOUR_LN2)


def gaussian_line_mw(freq_hz: np.ndarray, center_hz, power_mw, sigma_hz: float, rbw_hz: float) -> np.ndarray:
    """Reading of a Gaussian-shaped spectrum (total power P, σ_s) through a Gaussian RBW filter (σ_f):
    P·σ_f/√(σ_s² + σ_f²)·exp(−Δf²/(2(σ_s² + σ_f²))). σ_s → 0 gives a CW tone's response, σ_s ≫ σ_f
    the density × ENBW."""
    sf = gaussian_rbw_sigma_hz(rbw_hz)
    s2 = sigma_hz * sigma_hz + sf * sf
    d = np.asarray(freq_hz, dtype=float) - center_hz
    return power_mw * (sf / math.sqrt(s2)) * np.exp(-0.5 * d * d / s2)


@functools.lru_cache(maxsize=64)
def _ofdm_response(rbw_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """(offset grid Hz, reading in mW per mW of channel power) of the 802.11 OFDM 20 MHz shape seen through
    a Gaussian RBW filter: the shape (spectrum.ofdm20_psd_w_hz) convolved with |H|² on a grid 8 points
    per RBW (at most 50 kHz), computed once per RBW."""
    from scipy import ndimage

    step = min(rbw_hz / 8.0, 50e3)
    half = OFDM_EXTENT_HZ + 6.0 * rbw_hz
    n = int(math.ceil(half / step))
    grid = np.arange(-n, n + 1) * step
    psd_mw_hz = ofdm20_psd_w_hz(grid, 0.0, 0.0) * 1e3 * (np.abs(grid) <= OFDM_EXTENT_HZ)
    sigma_bins = gaussian_rbw_sigma_hz(rbw_hz) / step
    enbw = GAUSSIAN_RBW_ENBW_RATIO * rbw_hz
    reading = ndimage.gaussian_filter1d(psd_mw_hz, sigma_bins, mode="constant", truncate=6.0) * enbw
    return grid, reading


def ofdm20_reading_mw(freq_hz: np.ndarray, center_hz: float, power_mw: float, rbw_hz: float) -> np.ndarray:
    """Reading (mW) of an 802.11 OFDM 20 MHz transmitter of channel power ``power_mw`` centred at ``center_hz``.
    Below 50 kHz RBW the shape is flat over the filter: density × ENBW."""
    f = np.asarray(freq_hz, dtype=float)
    if rbw_hz <= 50e3:
        d = f - center_hz
        return ofdm20_psd_w_hz(d, 0.0, 0.0) * 1e3 * (np.abs(d) <= OFDM_EXTENT_HZ) * \
            (GAUSSIAN_RBW_ENBW_RATIO * rbw_hz) * power_mw
    grid, reading = _ofdm_response(float(rbw_hz))
    return power_mw * np.interp(f - center_hz, grid, reading, left=0.0, right=0.0)


def hash_uniform(k: np.ndarray, seed: int) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per integer ``k`` (splitmix64), vectorised: the same slot
    always gets the same draw, whatever times the scene asks about."""
    with np.errstate(over="ignore"):
        z = (np.asarray(k, dtype=np.int64).astype(np.uint64) + np.uint64(seed % 2**64)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def _shape(freq_hz, t_s) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(freq_hz, dtype=float)
    t = np.asarray(t_s, dtype=float)
    if f.shape != t.shape:
        f, t = np.broadcast_arrays(f, t)
    return f, t


# --------------------------------------------------------------------------------------------------
# 2.4 GHz emitters
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WifiAccessPoint:
    """An 802.11 OFDM 20 MHz access point on a 2.4 GHz channel with a duty cycle (module docstring)."""

    name: str = "ap"
    channel: int = 1
    level_dbm: float = -62.0        # channel power at the analyzer input while transmitting
    duty_cycle: float = 0.3
    slot_s: float = 2e-3            # one frame (or TXOP) per slot
    seed: int = 0
    kind: str = "wifi"

    def __post_init__(self):
        wifi24_center_hz(self.channel)  # raises for a channel that does not exist
        if not 0.0 <= self.duty_cycle <= 1.0 or not self.slot_s > 0:
            raise ValueError(f"{self.name}: duty_cycle must be in 0..1 and slot_s > 0")

    @property
    def center_hz(self) -> float:
        return wifi24_center_hz(self.channel)

    def on(self, t_s: np.ndarray) -> np.ndarray:
        slot = np.floor(np.asarray(t_s, dtype=float) / self.slot_s).astype(np.int64)
        return hash_uniform(slot, self.seed) < self.duty_cycle

    def power_dbm(self, freq_hz, t_s, rbw_hz: float) -> np.ndarray:
        f, t = _shape(freq_hz, t_s)
        mw = ofdm20_reading_mw(f, self.center_hz, 10.0 ** (self.level_dbm / 10.0), rbw_hz)
        return to_dbm(np.where(self.on(t), mw, 0.0))

    def iq(self, center_hz, sample_rate_hz, n, t0_s, rng):
        return None


@dataclass(frozen=True)
class BleAdvertiser:
    """BLE advertising on 37, 38 and 39 (module docstring)."""

    name: str = "ble"
    level_dbm: float = -70.0        # packet power at the analyzer input
    interval_s: float = 0.05        # advInterval; each event adds a 0-10 ms advDelay
    packet_s: float = 376e-6        # 1M PHY, 31-byte payload
    hop_s: float = 0.5e-3           # packet start to packet start on the next channel
    offset_s: float = 0.0
    seed: int = 0
    kind: str = "ble"

    def __post_init__(self):
        if not (self.interval_s > 3 * self.hop_s + 10e-3 and 0 < self.packet_s <= self.hop_s):
            raise ValueError(f"{self.name}: need interval_s > 3·hop_s + 10 ms and 0 < packet_s <= hop_s")

    def power_dbm(self, freq_hz, t_s, rbw_hz: float) -> np.ndarray:
        f, t = _shape(freq_hz, t_s)
        u = t - self.offset_s
        event = np.floor(u / self.interval_s).astype(np.int64)
        start = event * self.interval_s + 10e-3 * hash_uniform(event, self.seed)   # advDelay
        k = np.floor((u - start) / self.hop_s).astype(np.int64)                    # 0, 1, 2: 37, 38, 39
        on = (u >= start) & (k >= 0) & (k <= 2) & (u - start - k * self.hop_s < self.packet_s)
        centers = np.asarray(list(BLE_ADV_CHANNELS.values()))[np.clip(k, 0, 2)]
        mw = gaussian_line_mw(f, centers, 10.0 ** (self.level_dbm / 10.0), BLE_SIGMA_HZ, rbw_hz)
        return to_dbm(np.where(on, mw, 0.0))

    def iq(self, center_hz, sample_rate_hz, n, t0_s, rng):
        return None


@dataclass(frozen=True)
class MicrowaveOven:
    """A microwave oven: on for one half of each mains cycle, its line sweeping up while on."""

    name: str = "microwave"
    level_dbm: float = -60.0        # line power at the analyzer input while on
    mains_hz: float = 50.0
    start_hz: float = 2.455e9
    sweep_hz: float = 10e6
    line_sigma_hz: float = 1e6
    phase_s: float = 0.0
    kind: str = "microwave"

    def __post_init__(self):
        if not self.mains_hz > 0 or self.line_sigma_hz <= 0:
            raise ValueError(f"{self.name}: mains_hz and line_sigma_hz must be > 0")

    def power_dbm(self, freq_hz, t_s, rbw_hz: float) -> np.ndarray:
        f, t = _shape(freq_hz, t_s)
        phase = np.mod((t - self.phase_s) * self.mains_hz, 1.0)          # 0..1 over a mains cycle
        on = phase < 0.5
        center = self.start_hz + self.sweep_hz * (2.0 * phase)
        mw = gaussian_line_mw(f, center, 10.0 ** (self.level_dbm / 10.0), self.line_sigma_hz, rbw_hz)
        return to_dbm(np.where(on, mw, 0.0))

    def iq(self, center_hz, sample_rate_hz, n, t0_s, rng):
        return None


# --------------------------------------------------------------------------------------------------
# Profile sections
# --------------------------------------------------------------------------------------------------

def _entries(profile: DutProfile, key: str, cls, seed: int) -> list:
    """The emitters listed under ``[environment] key``; an entry without its own ``seed`` gets ``seed + i``."""
    values = profile.section("environment").get(key, [])
    if isinstance(values, dict):
        values = [values]
    known = {f.name for f in fields(cls)} - {"kind"}
    out = []
    for i, entry in enumerate(values):
        if not isinstance(entry, dict):
            raise ConfigError(f"DUT profile {profile.path}: [environment] {key}[{i}] must be a table, got {entry!r}")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ConfigError(f"DUT profile {profile.path}: [environment] {key}[{i}] has unknown key(s) "
                              f"{', '.join(unknown)}; known: {', '.join(sorted(known))}")
        defaults = {"name": f"{key}-{i + 1}"} | ({"seed": seed + i} if "seed" in known else {})
        try:
            out.append(cls(**(defaults | entry)))
        except (TypeError, ValueError, UsageError) as exc:
            raise ConfigError(f"DUT profile {profile.path}: [environment] {key}[{i}]: {exc}") from None
    return out


ENVIRONMENT_KEYS = {"enabled", "seed", "wifi", "ble", "microwave"}


def build_environment(profile: DutProfile) -> list:
    """The 2.4 GHz emitters of the profile's ``[environment]`` section (none when absent or disabled).
    Pseudo-random patterns are seeded from the section's ``seed`` unless an entry names its own."""
    sec = profile.section("environment")
    unknown = sorted(set(sec) - ENVIRONMENT_KEYS)
    if unknown:
        raise ConfigError(f"DUT profile {profile.path}: [environment] has unknown key(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(ENVIRONMENT_KEYS))}")
    if not sec or not sec.get("enabled", True):
        return []
    seed = int(sec.get("seed", 0))
    return (_entries(profile, "wifi", WifiAccessPoint, 1000 * seed + 100)
            + _entries(profile, "ble", BleAdvertiser, 1000 * seed + 200)
            + _entries(profile, "microwave", MicrowaveOven, 1000 * seed + 300))


def build_dfs(profile: DutProfile) -> list:
    """The DFS scenario's emitters (the DUT at 5 GHz and the radar) from ``[dfs]``; see
    :mod:`labbench.instruments.sim.dfs_scenario`."""
    from labbench.instruments.sim.dfs_scenario import build_dfs as _build

    return _build(profile)
