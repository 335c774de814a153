"""DFS radar test signals, timing, thresholds and channel plans as data (standards.md §1, §7.5).

Sources, as standards.md gives them ([V] read in the source, [U] unverified):
- FCC: KDB 905462 D02 (FCC 06-96 / 13-22 / 14-30) radar types 0–6, §1.1.
- ETSI: EN 301 893 V1.5.1 Annex D signals 0–6 (linux-wireless docs ``dfs/etsi.rst``, kernel
  ``etsi_radar_ref_types_v15``); newer versions widen the short pulses to 0.5 µs (LANforge), §1.2.
- Japan: MIC / TELEC T403, W53 (2019 set, and the older set as legacy) and W56 signals, §1.3.

A :class:`RadarType` is a box in parameter space: pulse width, pulse repetition interval (PRI = 1/PRF),
pulses per burst, and the structure that matters for a zero-span power trace (staggered PRFs, pulse
pairs, bursts spread over a window, frequency hopping). Chirp is kept as data; a power-vs-time trace
cannot see it. :func:`draw_burst` draws one concrete burst of a type with a numpy Generator, for
simulators and tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from labbench.errors import UsageError

US = 1e-6
DOMAINS = ("FCC", "ETSI", "MIC")
BANDS = ("W53", "W56")


@dataclass(frozen=True)
class PulsePair:
    """W53 chirp signals: a short pulse, a blank, then a long chirped pulse; pairs repeat at the PRF."""

    short_width_s: tuple[float, float]
    blank_s: tuple[float, float]
    long_width_s: tuple[float, float]


@dataclass(frozen=True)
class RadarType:
    """One radar test signal of a regulatory domain.

    ``pri_s`` is the PRI range (1/PRF for tables given in PRF, then ``by_prf``); ``pri_choices_s`` lists
    discrete PRIs when the table allows only some. ``pulses_per_burst`` counts pulses, per PRF for
    staggered types (``prf_count`` > 1), per hop for hopping types and pairs for paired types.
    ``pulse_count_rule`` "fcc1" means N = ⌈(1/360)·(19·10⁶/PRI_µs)⌉ instead of a range.
    Bursty types (``bursts`` > 1) place their bursts in a ``burst_window_s`` window; their PRI is the
    spacing of pulses inside a burst.
    """

    domain: str
    name: str
    pulse_width_s: tuple[float, float]
    pri_s: tuple[float, float]
    pulses_per_burst: tuple[int, int]
    by_prf: bool = False
    pri_choices_s: tuple[float, ...] = ()
    pulse_count_rule: str = "range"
    prf_count: tuple[int, int] = (1, 1)
    prf_spacing_hz: tuple[float, float] | None = None
    chirp_hz: tuple[float, float] = (0.0, 0.0)
    bursts: tuple[int, int] = (1, 1)
    burst_window_s: float | None = None
    pair: PulsePair | None = None
    hopping: bool = False
    band: str | None = None
    repetition_s: float | None = None
    newer_pulse_width_s: tuple[float, float] | None = None
    legacy: bool = False
    min_detection_pct: float | None = None
    trials: int | None = None
    source: str = ""

    @property
    def key(self) -> str:
        """Unique name across domains, e.g. "FCC-1", "ETSI-5", "MIC-W56-fixed-1"."""
        return f"{self.domain}-{self.name}"

    @property
    def staggered(self) -> bool:
        return self.prf_count[1] > 1

    @property
    def width_match_s(self) -> tuple[float, float]:
        """Widths accepted when classifying: the table range, widened to newer versions where noted."""
        lo, hi = self.pulse_width_s
        if self.newer_pulse_width_s:
            lo, hi = min(lo, self.newer_pulse_width_s[0]), max(hi, self.newer_pulse_width_s[1])
        return lo, hi


def _prf(lo_hz: float, hi_hz: float) -> tuple[float, float]:
    return 1.0 / hi_hz, 1.0 / lo_hz


_FCC_SRC = "KDB 905462 D02, standards.md §1.1"
_ETSI_SRC = "EN 301 893 V1.5.1 Annex D, standards.md §1.2"
_W56_SRC = "TELEC T403 W56 (Keysight N7607B Japan page), standards.md §1.3"
_W53_SRC = "TELEC T403 W53 2019 set (Keysight N7607 page), standards.md §1.3"

FCC_TYPES: tuple[RadarType, ...] = (
    RadarType("FCC", "0", (1 * US, 1 * US), (1428 * US, 1428 * US), (18, 18), source=_FCC_SRC + " [V]; use [U]"),
    RadarType("FCC", "1", (1 * US, 1 * US), (518 * US, 3066 * US), (18, 102), pulse_count_rule="fcc1",
              min_detection_pct=60, trials=30, source=_FCC_SRC + " [V] (Test B: random PRI, 1 us step)"),
    RadarType("FCC", "1-legacy", (1 * US, 1 * US), (1428 * US, 1428 * US), (18, 18), legacy=True,
              min_detection_pct=60, trials=30, source="FCC 06-96, standards.md §1.1 [V]"),
    RadarType("FCC", "2", (1 * US, 5 * US), (150 * US, 230 * US), (23, 29), min_detection_pct=60, trials=30,
              source=_FCC_SRC + " [V]"),
    RadarType("FCC", "3", (6 * US, 10 * US), (200 * US, 500 * US), (16, 18), min_detection_pct=60, trials=30,
              source=_FCC_SRC + " [V]"),
    RadarType("FCC", "4", (11 * US, 20 * US), (200 * US, 500 * US), (12, 16), min_detection_pct=60, trials=30,
              source=_FCC_SRC + " [V]"),
    RadarType("FCC", "5", (50 * US, 100 * US), (1000 * US, 2000 * US), (1, 3), chirp_hz=(5e6, 20e6),
              bursts=(8, 20), burst_window_s=12.0, min_detection_pct=80, trials=30,
              source=_FCC_SRC + " [V]; 80 % [U]"),
    RadarType("FCC", "6", (1 * US, 1 * US), (333 * US, 333 * US), (9, 9), hopping=True, min_detection_pct=70,
              trials=30, source=_FCC_SRC + " [V] (333 us/9 per hop, 475 hop frequencies 5250-5724 MHz, "
                                             "3 ms per hop); 300 ms sequence and 70 % [U]"),
)

ETSI_TYPES: tuple[RadarType, ...] = (
    RadarType("ETSI", "0", (1 * US, 1 * US), _prf(700, 700), (18, 18), by_prf=True,
              source=_ETSI_SRC + " [V], reference DFS test signal"),
    RadarType("ETSI", "1", (0.8 * US, 5 * US), _prf(200, 1000), (10, 10), by_prf=True,
              newer_pulse_width_s=(0.5 * US, 5 * US), source=_ETSI_SRC + " [V]; newer widths LANforge"),
    RadarType("ETSI", "2", (0.8 * US, 15 * US), _prf(200, 1600), (15, 15), by_prf=True,
              newer_pulse_width_s=(0.5 * US, 15 * US), source=_ETSI_SRC + " [V]; newer widths LANforge"),
    RadarType("ETSI", "3", (0.8 * US, 15 * US), _prf(2300, 4000), (25, 25), by_prf=True,
              newer_pulse_width_s=(0.5 * US, 15 * US), source=_ETSI_SRC + " [V]; newer widths LANforge"),
    RadarType("ETSI", "4", (20 * US, 30 * US), _prf(2000, 4000), (20, 20), by_prf=True, chirp_hz=(math.nan, math.nan),
              source=_ETSI_SRC + " [V]; chirped, deviation not tabulated in standards.md"),
    RadarType("ETSI", "5", (0.8 * US, 2 * US), _prf(300, 400), (10, 10), by_prf=True, prf_count=(2, 3),
              prf_spacing_hz=(20.0, 50.0), newer_pulse_width_s=(0.5 * US, 2 * US),
              source=_ETSI_SRC + " [V]; staggered, 10 pulses per PRF, PRIs cycled"),
    RadarType("ETSI", "6", (0.8 * US, 2 * US), _prf(400, 1200), (15, 15), by_prf=True, prf_count=(2, 3),
              prf_spacing_hz=(80.0, 400.0), newer_pulse_width_s=(0.5 * US, 2 * US),
              source=_ETSI_SRC + " [V]; staggered, 15 pulses per PRF, PRIs cycled"),
)

_W53_PAIR_A = PulsePair((0.5 * US, 5 * US), (70 * US, 120 * US), (20 * US, 110 * US))
_W53_PAIR_B = PulsePair((0.5 * US, 15 * US), (70 * US, 120 * US), (20 * US, 110 * US))
_W53_PAIR_C = PulsePair((0.5 * US, 1.5 * US), (50 * US, 240 * US), (30 * US, 32 * US))

MIC_TYPES: tuple[RadarType, ...] = (
    # W56
    RadarType("MIC", "W56-fixed-1", (0.5 * US, 0.5 * US), _prf(720, 720), (18, 18), by_prf=True, band="W56",
              repetition_s=15.0, source=_W56_SRC + " [V]"),
    RadarType("MIC", "W56-fixed-2", (1 * US, 1 * US), _prf(700, 700), (18, 18), by_prf=True, band="W56",
              repetition_s=15.0, source=_W56_SRC + " [V]"),
    RadarType("MIC", "W56-fixed-3", (2 * US, 2 * US), _prf(250, 250), (18, 18), by_prf=True, band="W56",
              repetition_s=15.0, source=_W56_SRC + " [V]"),
    RadarType("MIC", "W56-variable-4", (1 * US, 5 * US), _prf(4347, 6667), (23, 29), by_prf=True, band="W56",
              repetition_s=15.0, source=_W56_SRC + " [V]"),
    RadarType("MIC", "W56-variable-5", (6 * US, 10 * US), _prf(2000, 5000), (16, 18), by_prf=True, band="W56",
              repetition_s=15.0, source=_W56_SRC + " [V]"),
    RadarType("MIC", "W56-variable-6", (11 * US, 20 * US), _prf(2000, 5000), (12, 16), by_prf=True, band="W56",
              repetition_s=15.0, source=_W56_SRC + " [V]"),
    RadarType("MIC", "W56-chirp", (50 * US, 100 * US), _prf(500, 1000), (1, 3), by_prf=True, chirp_hz=(5e6, 20e6),
              bursts=(8, 20), burst_window_s=12.0, band="W56", repetition_s=12.0, source=_W56_SRC + " [V]"),
    RadarType("MIC", "W56-hopping", (1 * US, 1 * US), (333 * US, 333 * US), (9, 9), hopping=True, band="W56",
              source=_W56_SRC + " [V], as FCC type 6 (kernel JP pattern 333 us/9)"),
    # W53, 2019 set
    RadarType("MIC", "W53-fixed-1", (1 * US, 1 * US), _prf(840, 1120), (18, 18), by_prf=True,
              pri_choices_s=(1 / 840, 1 / 1120), band="W53", repetition_s=15.0, source=_W53_SRC + " [V]"),
    RadarType("MIC", "W53-fixed-2", (2.7 * US, 2.7 * US), _prf(260, 260), (18, 18), by_prf=True, band="W53",
              source=_W53_SRC + " [V]"),
    RadarType("MIC", "W53-variable-3", (0.5 * US, 5 * US), _prf(200, 1000), (10, 40), by_prf=True, band="W53",
              repetition_s=12.0, source=_W53_SRC + " [V]"),
    RadarType("MIC", "W53-variable-4", (0.5 * US, 15 * US), _prf(200, 1600), (15, 40), by_prf=True, band="W53",
              source=_W53_SRC + " [V]"),
    RadarType("MIC", "W53-chirp-5", (0.5 * US, 5 * US), _prf(200, 1000), (22, 40), by_prf=True, chirp_hz=(1e6, 2e6),
              pair=_W53_PAIR_A, band="W53", source=_W53_SRC + " [V]; pulses_per_burst counts pairs"),
    RadarType("MIC", "W53-chirp-6", (0.5 * US, 15 * US), _prf(200, 1600), (22, 40), by_prf=True, chirp_hz=(1e6, 2e6),
              pair=_W53_PAIR_B, band="W53", source=_W53_SRC + " [V]; pulses_per_burst counts pairs"),
    RadarType("MIC", "W53-chirp-7", (0.5 * US, 1.5 * US), _prf(1114, 1118), (30, 40), by_prf=True,
              chirp_hz=(1e6, 2e6), pair=_W53_PAIR_C, band="W53", source=_W53_SRC + " [V]"),
    RadarType("MIC", "W53-chirp-8", (0.5 * US, 1.5 * US), _prf(928, 932), (25, 40), by_prf=True,
              chirp_hz=(1e6, 2e6), pair=_W53_PAIR_C, band="W53", source=_W53_SRC + " [V]"),
    RadarType("MIC", "W53-chirp-9", (0.5 * US, 1.5 * US), _prf(886, 890), (24, 40), by_prf=True,
              chirp_hz=(1e6, 2e6), pair=_W53_PAIR_C, band="W53", source=_W53_SRC + " [V]"),
    RadarType("MIC", "W53-chirp-10", (0.5 * US, 1.5 * US), _prf(738, 742), (20, 40), by_prf=True,
              chirp_hz=(1e6, 2e6), pair=_W53_PAIR_C, band="W53", source=_W53_SRC + " [V]"),
    # W53, older set (before 2019)
    RadarType("MIC", "W53-legacy-1", (1 * US, 1 * US), _prf(700, 700), (18, 18), by_prf=True, band="W53",
              legacy=True, source="TELEC T403 older W53 set (Keysight N7607B), standards.md §1.3 [V]"),
    RadarType("MIC", "W53-legacy-2", (2.5 * US, 2.5 * US), _prf(260, 260), (18, 18), by_prf=True, band="W53",
              legacy=True, source="TELEC T403 older W53 set (Keysight N7607B), standards.md §1.3 [V]"),
)

ALL_TYPES: tuple[RadarType, ...] = FCC_TYPES + ETSI_TYPES + MIC_TYPES


def radar_types(domain: str | None = None, band: str | None = None, *,
                include_legacy: bool = False) -> tuple[RadarType, ...]:
    """The radar types of a domain (all domains when None), of a MIC band when given, legacy ones on request."""
    if domain is not None and domain not in DOMAINS:
        raise UsageError(f"unknown DFS domain {domain!r}; valid: {', '.join(DOMAINS)}")
    if band is not None and band not in BANDS:
        raise UsageError(f"unknown band {band!r}; valid: {', '.join(BANDS)}")
    return tuple(t for t in ALL_TYPES
                 if (domain is None or t.domain == domain) and (band is None or t.band in (None, band))
                 and (include_legacy or not t.legacy))


def radar_type(domain: str, name: str) -> RadarType:
    """Look a type up by domain and name (e.g. ("FCC", "1"), ("MIC", "W56-fixed-1")); the key "FCC-1"
    is accepted as the name too."""
    for t in radar_types(domain, include_legacy=True):
        if name in (t.name, t.key):
            return t
    valid = ", ".join(t.name for t in radar_types(domain, include_legacy=True))
    raise UsageError(f"unknown {domain} radar type {name!r}; valid: {valid}")


def fcc_type1_pulses(pri_s: float) -> int:
    """Pulses in an FCC type 1 burst: N = ⌈(1/360)·(19·10⁶/PRI_µs)⌉ (§1.1).

    518 µs → 102 pulses, 3066 µs → 18 (§7.5)."""
    pri_us = round(pri_s / US, 6)
    return math.ceil(round(19e6 / pri_us / 360.0, 9))


# --------------------------------------------------------------------------------------------------
# Timing, thresholds and channels
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DfsTimingLimits:
    """DFS timing requirements of a domain (standards.md §1).

    ``closing_tx_limit_s`` bounds the closing transmission time as the domain counts it: FCC, the
    aggregate after the first ``closing_free_window_s`` (200 ms) of the move time, at most 60 ms;
    ETSI V1.5.1 the whole aggregate, 1 s; MIC 260 ms.
    """

    domain: str
    cac_s: float
    cac_weather_s: float
    channel_move_time_s: float
    closing_tx_limit_s: float
    closing_free_window_s: float
    non_occupancy_s: float
    source: str


DFS_TIMING: dict[str, DfsTimingLimits] = {
    "FCC": DfsTimingLimits("FCC", 60.0, 60.0, 10.0, 0.060, 0.200, 1800.0,
                           "KDB 905462 D02 Tables 3-4 [U]; 60 s/10 s/30 min [V]"),
    "ETSI": DfsTimingLimits("ETSI", 60.0, 600.0, 10.0, 1.0, 0.0, 1800.0,
                            "EN 301 893 V1.5.1 Table D.1 [V] (260 ms in V1.4.1)"),
    "MIC": DfsTimingLimits("MIC", 60.0, 60.0, 10.0, 0.260, 0.0, 1800.0, "TELEC T403 [U]"),
}

W53_CHANNELS = (52, 56, 60, 64)
W56_CHANNELS = tuple(range(100, 141, 4)) + (144,)  # 144 added by MIC's decree of 11 July 2019
BAND_CHANNELS = {"W53": W53_CHANNELS, "W56": W56_CHANNELS}
WEATHER_RADAR_BAND_HZ = (5600e6, 5650e6)


def channel_center_hz(channel: int) -> float:
    """5 GHz channel centre f = 5000 + 5·ch MHz (§1.3)."""
    return (5000.0 + 5.0 * channel) * 1e6


def check_channel(band: str, channel: int) -> float:
    """Validate a W53/W56 channel and return its centre frequency; UsageError lists valid channels."""
    if band not in BAND_CHANNELS:
        raise UsageError(f"unknown band {band!r}; valid: {', '.join(BANDS)}")
    if channel not in BAND_CHANNELS[band]:
        raise UsageError(f"channel {channel} is not in {band}; valid: "
                         + ", ".join(str(c) for c in BAND_CHANNELS[band]))
    return channel_center_hz(channel)


def is_weather_channel(channel: int, bandwidth_hz: float = 20e6) -> bool:
    """Whether the channel's nominal bandwidth overlaps 5600–5650 MHz (weather radar; 120/124/128 at 20 MHz)."""
    fc = channel_center_hz(channel)
    lo, hi = WEATHER_RADAR_BAND_HZ
    return fc - bandwidth_hz / 2 < hi and fc + bandwidth_hz / 2 > lo


def cac_time_s(domain: str, channel: int, bandwidth_hz: float = 20e6) -> float:
    """Channel availability check time: 60 s; ETSI 600 s on channels overlapping 5600–5650 MHz (§1.2)."""
    if domain not in DFS_TIMING:
        raise UsageError(f"unknown DFS domain {domain!r}; valid: {', '.join(DOMAINS)}")
    lim = DFS_TIMING[domain]
    return lim.cac_weather_s if is_weather_channel(channel, bandwidth_hz) else lim.cac_s


RADAR_LEVEL_ABOVE_THRESHOLD_DB = 1.0  # FCC: the test signal is injected at threshold + 1 dB (§1.1)
_200_MW_DBM = 10.0 * math.log10(200.0)


def fcc_detection_threshold_dbm(eirp_dbm: float, psd_dbm_mhz: float | None = None) -> float:
    """FCC DFS detection threshold at a 0 dBi antenna (§1.1): −64 dBm for EIRP ≥ 200 mW; below 200 mW,
    −62 dBm when the PSD is under 10 dBm/MHz, else −64 dBm."""
    if eirp_dbm >= _200_MW_DBM:
        return -64.0
    if psd_dbm_mhz is None:
        raise UsageError("FCC threshold below 200 mW EIRP depends on the PSD: give psd_dbm_mhz")
    return -62.0 if psd_dbm_mhz < 10.0 else -64.0


def etsi_detection_threshold_dbm(eirp_psd_dbm_mhz: float, antenna_gain_dbi: float = 0.0) -> float:
    """ETSI EN 301 893 V1.5.1 threshold (§1.2): −62 + 10 − EIRP_PSD(dBm/MHz) + G(dBi), and at 0 dBi never
    below −64 dBm; i.e. max(−52 − PSD, −64) + G. 13 dBm/MHz at 0 dBi: −65 → −64 dBm."""
    return max(-52.0 - eirp_psd_dbm_mhz, -64.0) + antenna_gain_dbi


def mic_detection_threshold_dbm() -> float:
    """Japan MIC threshold, −62 dBm (§1.3, [U])."""
    return -62.0


# --------------------------------------------------------------------------------------------------
# Drawing bursts
# --------------------------------------------------------------------------------------------------

FCC6_HOP_FREQS_HZ = np.arange(5250, 5725) * 1e6  # 475 hop frequencies, 1 MHz apart
FCC6_HOP_PERIOD_S = 3e-3                           # 0.333 kHz hop rate
FCC6_SEQUENCE_S = 0.3                              # [U]


@dataclass(frozen=True, eq=False)
class RadarBurst:
    """One drawn burst: pulse start times and widths (s), per-pulse chirp (Hz, 0 none) and carrier
    frequency (Hz; NaN when not hopping and no channel was given). ``pris_s`` are the drawn PRIs
    (several when staggered; the pulse spacings inside bursts for bursty types; the pair period for
    paired types). ``pulses_per_burst`` is the drawn count (per PRF, per hop, or pairs)."""

    radar: RadarType
    start_s: np.ndarray
    width_s: np.ndarray
    chirp_hz: np.ndarray
    freq_hz: np.ndarray
    pris_s: tuple[float, ...]
    pulses_per_burst: int
    params: dict = field(default_factory=dict)

    @property
    def end_s(self) -> float:
        return float(np.max(self.start_s + self.width_s)) if self.start_s.size else math.nan

    @property
    def duration_s(self) -> float:
        return self.end_s - float(self.start_s[0]) if self.start_s.size else 0.0


def _u(rng, lo, hi):
    return float(lo) if hi == lo else float(rng.uniform(lo, hi))


def _draw_pri(t: RadarType, rng) -> float:
    if t.pri_choices_s:
        return float(rng.choice(np.asarray(t.pri_choices_s)))
    lo, hi = t.pri_s
    if t.pulse_count_rule == "fcc1":  # Test B: a random PRI in 518–3066 µs in 1 µs steps
        return float(rng.integers(round(lo / US), round(hi / US) + 1)) * US
    if t.by_prf:
        return 1.0 / _u(rng, 1.0 / hi, 1.0 / lo)
    return _u(rng, lo, hi)


def draw_burst(radar: RadarType, rng: np.random.Generator, *, t0_s: float = 0.0,
               channel_hz: float | None = None, bandwidth_hz: float = 20e6,
               pulse_width_s: float | None = None, pri_s: float | None = None,
               pulses: int | None = None) -> RadarBurst:
    """Draw one concrete burst of ``radar`` starting at ``t0_s``.

    Widths, PRI/PRF and counts are uniform over the table's ranges (one width per burst); ETSI and MIC
    PRFs are drawn in PRF, FCC PRIs in PRI (type 1 on a 1 µs grid with N from :func:`fcc_type1_pulses`).
    Staggered types draw 2 or 3 PRFs spaced by the table's spacing and cycle their PRIs pulse by pulse.
    Paired types place short pulse, blank, long pulse per pair. Bursty types (FCC 5, W56 chirp) split
    the window into equal intervals and put one burst of 1–3 pulses at a random place in each.
    Hopping types hop every 3 ms over 475 frequencies for 300 ms, 9 pulses per hop; with
    ``channel_hz`` only hops within ±bandwidth/2 are kept (redrawn until at least one is).
    ``pulse_width_s``, ``pri_s`` and ``pulses`` override the draw (tests use them to pick a point).
    """
    w = pulse_width_s if pulse_width_s is not None else _u(rng, *radar.pulse_width_s)
    f_nom = math.nan if channel_hz is None else float(channel_hz)

    def pack(starts, widths, chirps, freqs, pris, n, **params):
        order = np.argsort(starts, kind="stable")
        return RadarBurst(radar, np.asarray(starts, float)[order], np.asarray(widths, float)[order],
                          np.asarray(chirps, float)[order], np.asarray(freqs, float)[order],
                          tuple(float(p) for p in pris), int(n), params)

    if radar.hopping:
        n_hops = round(FCC6_SEQUENCE_S / FCC6_HOP_PERIOD_S)
        pri = pri_s if pri_s is not None else radar.pri_s[0]
        per_hop = pulses if pulses is not None else radar.pulses_per_burst[0]
        for _ in range(1000):
            hops = rng.permutation(FCC6_HOP_FREQS_HZ)[:n_hops]
            keep = np.ones(n_hops, bool) if channel_hz is None else np.abs(hops - channel_hz) <= bandwidth_hz / 2
            if keep.any():
                break
        k = np.flatnonzero(keep)
        starts = (t0_s + k[:, None] * FCC6_HOP_PERIOD_S + np.arange(per_hop)[None, :] * pri).ravel()
        freqs = np.repeat(hops[k], per_hop)
        return pack(starts, np.full(starts.size, w), np.zeros(starts.size), freqs, (pri,), per_hop,
                    hops_in_channel=int(k.size))

    if radar.bursts[1] > 1:
        n_b = int(rng.integers(radar.bursts[0], radar.bursts[1] + 1))
        interval = radar.burst_window_s / n_b
        starts, widths, chirps, pris = [], [], [], []
        for b in range(n_b):
            n_p = pulses if pulses is not None else int(rng.integers(radar.pulses_per_burst[0],
                                                                     radar.pulses_per_burst[1] + 1))
            wb = pulse_width_s if pulse_width_s is not None else _u(rng, *radar.pulse_width_s)
            cb = _u(rng, *radar.chirp_hz)
            gaps = [pri_s if pri_s is not None else _draw_pri(radar, rng) for _ in range(n_p - 1)]
            span = sum(gaps) + wb
            t_b = t0_s + b * interval + _u(rng, 0.0, max(interval - span, 0.0))
            offs = np.concatenate(([0.0], np.cumsum(gaps)))
            starts.extend(t_b + offs)
            widths.extend([wb] * n_p)
            chirps.extend([cb] * n_p)
            pris.extend(gaps)
        return pack(starts, widths, chirps, np.full(len(starts), f_nom), pris, len(starts), bursts=n_b)

    chirp = _u(rng, *radar.chirp_hz) if math.isfinite(radar.chirp_hz[0]) else math.nan

    if radar.pair is not None:
        n = pulses if pulses is not None else int(rng.integers(radar.pulses_per_burst[0],
                                                               radar.pulses_per_burst[1] + 1))
        period = pri_s if pri_s is not None else _draw_pri(radar, rng)
        w_long = _u(rng, *radar.pair.long_width_s)
        blank = _u(rng, *radar.pair.blank_s)
        t_short = t0_s + np.arange(n) * period
        t_long = t_short + w + blank
        starts = np.concatenate((t_short, t_long))
        widths = np.concatenate((np.full(n, w), np.full(n, w_long)))
        chirps = np.concatenate((np.zeros(n), np.full(n, chirp)))
        return pack(starts, widths, chirps, np.full(2 * n, f_nom), (period,), n, long_width_s=w_long,
                    blank_s=blank)

    if radar.staggered:
        n_prf = int(rng.integers(radar.prf_count[0], radar.prf_count[1] + 1))
        lo_prf, hi_prf = 1.0 / radar.pri_s[1], 1.0 / radar.pri_s[0]
        spacing = rng.uniform(*radar.prf_spacing_hz, size=n_prf - 1)
        while spacing.sum() > hi_prf - lo_prf:  # keep every PRF inside the table's range
            spacing = rng.uniform(*radar.prf_spacing_hz, size=n_prf - 1)
        prf0 = rng.uniform(lo_prf, hi_prf - spacing.sum())
        prfs = prf0 + np.concatenate(([0.0], np.cumsum(spacing)))
        pris = 1.0 / prfs
        per_prf = pulses if pulses is not None else int(rng.integers(radar.pulses_per_burst[0],
                                                                     radar.pulses_per_burst[1] + 1))
        n = per_prf * n_prf
        intervals = np.resize(pris, n - 1)
        starts = t0_s + np.concatenate(([0.0], np.cumsum(intervals)))
        return pack(starts, np.full(n, w), np.full(n, chirp), np.full(n, f_nom), tuple(pris), per_prf)

    pri = pri_s if pri_s is not None else _draw_pri(radar, rng)
    if pulses is not None:
        n = pulses
    elif radar.pulse_count_rule == "fcc1":
        n = fcc_type1_pulses(pri)
    else:
        n = int(rng.integers(radar.pulses_per_burst[0], radar.pulses_per_burst[1] + 1))
    starts = t0_s + np.arange(n) * pri
    return pack(starts, np.full(n, w), np.full(n, chirp), np.full(n, f_nom), (pri,), n)
