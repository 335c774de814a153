"""2.4 GHz interference: channel occupancy, best channel, emitters and SIR from a spectrogram.

References: standards.md §4 (2.4 GHz channel plan, the 20 MHz OFDM channel; BLE advertising channels
37/38/39 at 2402/2426/2480 MHz; microwave ovens near 2.45 GHz switching at the mains rate).

A spectrogram is power readings (dBm, per frequency bin as the analyzer shows them through its RBW)
on a time × frequency grid. A cell is *occupied* when it exceeds the threshold: by default 15 dB over the
noise floor, the median over frequency of each bin's median over time. Noise power in a cell is
exponential at worst (no averaging); its median is 1.6 dB under its mean, so 15 dB over the median is
crossed by noise with probability ~3e-10 per cell. Powers integrate readings over bins as
:mod:`labbench.analysis.spectrum` does (Σ reading × bin width / ENBW).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from labbench.errors import AnalysisError, UsageError

WIFI24_CHANNELS: dict[int, float] = {n: (2412.0 + 5.0 * (n - 1)) * 1e6 for n in range(1, 14)} | {14: 2484e6}
BLE_ADV_CHANNELS: dict[int, float] = {37: 2402e6, 38: 2426e6, 39: 2480e6}
WIFI_CHANNEL_WIDTH_HZ = 20e6
NON_OVERLAPPING = (1, 6, 11)

KINDS = ("wifi", "ble", "microwave_oven", "unknown")


def wifi24_center_hz(channel: int) -> float:
    """Centre of a 2.4 GHz Wi-Fi channel: 2412 + 5(n − 1) MHz for 1–13, 2484 MHz for 14 (§4)."""
    if channel not in WIFI24_CHANNELS:
        raise UsageError(f"2.4 GHz Wi-Fi channel {channel!r} does not exist; valid: 1-14")
    return WIFI24_CHANNELS[channel]


@dataclass(frozen=True, eq=False)
class Spectrogram:
    """Readings ``power_dbm`` (time × frequency, dBm per bin) on ``time_s`` and ascending ``freq_hz``.
    ``enbw_hz`` is the noise bandwidth of each reading (defaults to the bin spacing, as for an FFT bin
    with a rectangular window)."""

    time_s: np.ndarray
    freq_hz: np.ndarray
    power_dbm: np.ndarray
    enbw_hz: float | None = None

    def __post_init__(self):
        t, f, p = (np.asarray(x) for x in (self.time_s, self.freq_hz, self.power_dbm))
        if p.ndim != 2 or p.shape != (t.size, f.size):
            raise AnalysisError(f"spectrogram: power is {p.shape}, expected (time {t.size}, frequency {f.size})")
        if f.size < 2 or not np.all(np.diff(f) > 0):
            raise AnalysisError("spectrogram: frequency axis must be ascending with at least 2 bins")
        object.__setattr__(self, "time_s", t.astype(float))
        object.__setattr__(self, "freq_hz", f.astype(float))
        object.__setattr__(self, "power_dbm", p)

    @property
    def df_hz(self) -> float:
        return float(np.median(np.diff(self.freq_hz)))

    @property
    def dt_s(self) -> float:
        return float(np.median(np.diff(self.time_s))) if self.time_s.size > 1 else math.nan

    @property
    def noise_bandwidth_hz(self) -> float:
        return self.enbw_hz if self.enbw_hz else self.df_hz

    def band_bins(self, lo_hz: float, hi_hz: float) -> np.ndarray:
        """Weights (0..1) of each bin's overlap with [lo, hi], bins centred on ``freq_hz``."""
        f, df = self.freq_hz, self.df_hz
        return np.clip((np.minimum(f + df / 2, hi_hz) - np.maximum(f - df / 2, lo_hz)) / df, 0.0, 1.0)


def noise_floor_dbm(sg: Spectrogram) -> float:
    """Noise floor: median over frequency of each bin's median over time (robust to busy bins and times)."""
    return float(np.nanmedian(np.nanmedian(sg.power_dbm, axis=0)))


def _threshold(sg: Spectrogram, threshold_dbm, above_floor_db) -> float:
    return float(threshold_dbm) if threshold_dbm is not None else noise_floor_dbm(sg) + above_floor_db


# --------------------------------------------------------------------------------------------------
# Occupancy and best channel
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelOccupancy:
    """Occupancy of one 2.4 GHz channel over its 20 MHz band.

    ``occupancy_pct``: percent of time slices with at least one occupied cell in the band (energy
    seen anywhere in the channel, like a clear-channel energy detect); ``mean_power_dbm``: integrated
    band power averaged over the whole record; ``busy_power_dbm``: the same over the occupied slices.
    """

    channel: int
    center_hz: float
    occupancy_pct: float
    mean_power_dbm: float
    busy_power_dbm: float


def channel_occupancy(sg: Spectrogram, channels=tuple(range(1, 14)), *, threshold_dbm: float | None = None,
                      threshold_db_above_floor: float = 15.0,
                      channel_width_hz: float = WIFI_CHANNEL_WIDTH_HZ) -> tuple[ChannelOccupancy, ...]:
    """Per-channel occupancy (:class:`ChannelOccupancy`) for ``channels`` (default 1–13).

    The channel band is centre ± 10 MHz, so a transmitter on channel 6 also occupies channels 2–10 in
    part: overlap of the 20 MHz channels is counted by construction. Channels whose band falls outside
    the spectrogram raise.
    """
    thr = _threshold(sg, threshold_dbm, threshold_db_above_floor)
    occ = sg.power_dbm > thr
    mw = 10.0 ** (np.asarray(sg.power_dbm, dtype=float) / 10.0)
    scale = sg.df_hz / sg.noise_bandwidth_hz
    out = []
    for ch in channels:
        fc = wifi24_center_hz(ch)
        lo, hi = fc - channel_width_hz / 2, fc + channel_width_hz / 2
        if lo < sg.freq_hz[0] - sg.df_hz or hi > sg.freq_hz[-1] + sg.df_hz:
            raise AnalysisError(f"channel {ch} ({lo / 1e6:.0f}-{hi / 1e6:.0f} MHz) is outside the spectrogram "
                                f"({sg.freq_hz[0] / 1e6:.1f}-{sg.freq_hz[-1] / 1e6:.1f} MHz)")
        w = sg.band_bins(lo, hi)
        cols = w > 0
        busy = occ[:, cols].any(axis=1)
        p_t = mw[:, cols] @ w[cols] * scale
        mean = 10.0 * math.log10(max(float(np.nanmean(p_t)), 1e-300))
        busy_p = 10.0 * math.log10(max(float(np.nanmean(p_t[busy])), 1e-300)) if busy.any() else -math.inf
        out.append(ChannelOccupancy(ch, fc, 100.0 * float(busy.mean()), mean, busy_p))
    return tuple(out)


def best_channel(occupancy: tuple[ChannelOccupancy, ...], candidates=None, *, occupancy_tie_pct: float = 0.1,
                 power_tie_db: float = 1.0) -> int:
    """The least occupied channel. Channels within ``occupancy_tie_pct`` of the lowest occupancy tie;
    among them those within ``power_tie_db`` of the lowest mean power; then 1/6/11 are preferred, then
    the lower number. ``candidates`` restricts the choice (e.g. (1, 6, 11))."""
    pool = [o for o in occupancy if candidates is None or o.channel in candidates]
    if not pool:
        raise AnalysisError("best channel: no candidate channel in the occupancy table")
    low = min(o.occupancy_pct for o in pool)
    pool = [o for o in pool if o.occupancy_pct <= low + occupancy_tie_pct]
    quiet = min(o.mean_power_dbm for o in pool)
    pool = [o for o in pool if o.mean_power_dbm <= quiet + power_tie_db]
    return min(pool, key=lambda o: (o.channel not in NON_OVERLAPPING, o.channel)).channel


# --------------------------------------------------------------------------------------------------
# Emitters
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Emitter:
    """One emitter found in the spectrogram.

    ``kind``: "wifi" (≈20 MHz wide bursts on a channel centre; ``channel`` 1–14), "ble" (≤ 3 MHz wide
    on an advertising channel; ``channel`` 37/38/39), "microwave_oven" (a narrow line drifting near
    2.45 GHz, on and off at the mains rate ``mains_hz``), "unknown". ``bandwidth_hz`` is the mean
    occupied width per time slice; ``f_low_hz``/``f_high_hz`` the extent over all its bursts.
    ``power_dbm`` is its integrated power while on (mean over its active slices), ``duty_cycle`` the
    fraction of slices it is on, ``period_s`` the median spacing of its burst starts (NaN if < 2).
    ``profile_mw`` is its mean reading per frequency bin while on (for in-channel power).
    """

    kind: str
    center_hz: float
    bandwidth_hz: float
    f_low_hz: float
    f_high_hz: float
    channel: int | None
    bursts: int
    duty_cycle: float
    mean_burst_s: float
    period_s: float
    mains_hz: float
    drift_hz: float
    power_dbm: float
    peak_dbm: float
    profile_mw: np.ndarray
    freq_hz: np.ndarray
    noise_bandwidth_hz: float

    def band_power_dbm(self, lo_hz: float, hi_hz: float) -> float:
        """Its power within [lo, hi] while on (dBm; −inf when it does not reach the band)."""
        df = float(np.median(np.diff(self.freq_hz)))
        w = np.clip((np.minimum(self.freq_hz + df / 2, hi_hz) - np.maximum(self.freq_hz - df / 2, lo_hz)) / df, 0, 1)
        p = float(self.profile_mw @ w) * df / self.noise_bandwidth_hz
        return 10.0 * math.log10(p) if p > 0 else -math.inf


def _nearest(table: dict[int, float], f: float) -> tuple[int, float]:
    ch = min(table, key=lambda c: abs(table[c] - f))
    return ch, abs(table[ch] - f)


def detect_emitters(sg: Spectrogram, *, threshold_dbm: float | None = None, threshold_db_above_floor: float = 15.0,
                    wifi_min_width_hz: float = 12e6, ble_max_width_hz: float = 3e6,
                    oven_band_hz: tuple[float, float] = (2.43e9, 2.48e9), oven_min_drift_hz: float = 2e6,
                    mains_hz_range: tuple[float, float] = (45.0, 66.0)) -> tuple[Emitter, ...]:
    """Find and classify emitters: connected regions (8-neighbour) of occupied cells, each region a
    burst, classified by its shape and grouped into emitters (standards.md §4).

    Burst rules: Wi-Fi when its mean width per slice is ≥ ``wifi_min_width_hz`` and ≤ 24 MHz with the
    power-weighted centre within 2 MHz of a channel centre and little drift; BLE advertising when
    ≤ ``ble_max_width_hz`` wide and within 1 MHz of 2402/2426/2480 MHz; microwave-oven candidate when
    centred in ``oven_band_hz`` and its centre drifts (or its extent spans) ≥ ``oven_min_drift_hz``.
    Emitters: Wi-Fi bursts grouped by channel, BLE by advertising channel, oven candidates together
    (bursts touching in time merged), confirmed as a microwave oven only when their bursts repeat at
    a rate in ``mains_hz_range`` (50/60 Hz mains) — else "unknown"; other bursts grouped by centre
    (1 MHz) as "unknown". The time axis must resolve the mains period (slices ≤ ~5 ms) to see an oven.
    """
    thr = _threshold(sg, threshold_dbm, threshold_db_above_floor)
    occ = np.asarray(sg.power_dbm > thr)
    labels, nb = ndimage.label(occ, structure=np.ones((3, 3), dtype=bool))
    if nb == 0:
        return ()
    n_t, n_f = occ.shape
    df, f = sg.df_hz, sg.freq_hz
    dt = sg.dt_s if n_t > 1 else 1.0
    scale = df / sg.noise_bandwidth_hz
    ti, fi = np.nonzero(labels)
    lab = labels[ti, fi] - 1
    pw = 10.0 ** (np.asarray(sg.power_dbm, dtype=float)[ti, fi] / 10.0)

    # per (burst, slice) groups
    key = lab.astype(np.int64) * n_t + ti
    uniq, inv = np.unique(key, return_inverse=True)
    g_blob, g_t = uniq // n_t, uniq % n_t
    g_cells = np.bincount(inv)
    g_pw = np.bincount(inv, weights=pw)
    g_cent = np.bincount(inv, weights=pw * f[fi]) / g_pw
    starts = np.flatnonzero(np.r_[True, g_blob[1:] != g_blob[:-1]])  # uniq is sorted by burst, then time
    n_sl = np.diff(np.r_[starts, uniq.size])
    width = np.add.reduceat(g_cells * df, starts) / n_sl
    cent_min, cent_max = np.minimum.reduceat(g_cent, starts), np.maximum.reduceat(g_cent, starts)
    t_first, t_last = g_t[starts], np.maximum.reduceat(g_t, starts)
    tot_pw = np.bincount(lab, weights=pw, minlength=nb)
    centre = np.bincount(lab, weights=pw * f[fi], minlength=nb) / tot_pw
    f_lo = ndimage.minimum(f[fi], lab, np.arange(nb))
    f_hi = ndimage.maximum(f[fi], lab, np.arange(nb))
    peak = 10.0 * np.log10(ndimage.maximum(pw, lab, np.arange(nb)))
    drift = cent_max - cent_min

    kind = np.full(nb, "unknown", dtype=object)
    chan = np.zeros(nb, dtype=int)
    for b in range(nb):  # a few hundred bursts at most: per-burst rules stay readable
        ch, off = _nearest(WIFI24_CHANNELS, centre[b])
        if wifi_min_width_hz <= width[b] <= 24e6 and off <= 2e6 and drift[b] < 2e6:
            kind[b], chan[b] = "wifi", ch
            continue
        ch, off = _nearest(BLE_ADV_CHANNELS, centre[b])
        if width[b] <= ble_max_width_hz and off <= 1e6 and drift[b] < 1e6:
            kind[b], chan[b] = "ble", ch
            continue
        if oven_band_hz[0] <= centre[b] <= oven_band_hz[1] and max(drift[b], f_hi[b] - f_lo[b]) >= oven_min_drift_hz:
            kind[b] = "oven?"

    def make(members: np.ndarray, k: str, channel: int | None, burst_starts_t: np.ndarray) -> Emitter:
        cells = np.isin(lab, members)
        active = np.unique(ti[cells])
        profile = np.bincount(fi[cells], weights=pw[cells], minlength=n_f) / max(active.size, 1)
        per_slice = np.bincount(ti[cells], weights=pw[cells], minlength=n_t)[active] * scale
        period = float(np.median(np.diff(np.sort(burst_starts_t)))) * dt if burst_starts_t.size > 1 else math.nan
        n_b = int(burst_starts_t.size)
        return Emitter(
            kind=k, center_hz=float(np.sum(centre[members] * tot_pw[members]) / np.sum(tot_pw[members])),
            bandwidth_hz=float(np.sum(width[members] * n_sl[members]) / np.sum(n_sl[members])),
            f_low_hz=float(np.min(f_lo[members]) - df / 2), f_high_hz=float(np.max(f_hi[members]) + df / 2),
            channel=channel, bursts=n_b, duty_cycle=active.size / n_t, mean_burst_s=active.size * dt / max(n_b, 1),
            period_s=period, mains_hz=(1.0 / period if k == "microwave_oven" else math.nan),
            drift_hz=float(np.max(drift[members])), power_dbm=10.0 * math.log10(float(np.mean(per_slice))),
            peak_dbm=float(np.max(peak[members])), profile_mw=profile, freq_hz=f,
            noise_bandwidth_hz=sg.noise_bandwidth_hz)

    emitters: list[Emitter] = []
    for k in ("wifi", "ble"):
        for ch in sorted(set(chan[kind == k])):
            m = np.flatnonzero((kind == k) & (chan == ch))
            emitters.append(make(m, k, int(ch), t_first[m]))
    oven = np.flatnonzero(kind == "oven?")
    if oven.size:
        o = oven[np.argsort(t_first[oven])]
        # bursts touching in time (a drifting line may split into several regions) are one burst
        new = np.r_[True, t_first[o][1:] > np.maximum.accumulate(t_last[o])[:-1] + 1]
        b_starts = t_first[o][new]
        e = make(o, "microwave_oven", None, b_starts)
        rate = 1.0 / e.period_s if e.period_s > 0 else math.nan
        if not (b_starts.size >= 3 and mains_hz_range[0] <= rate <= mains_hz_range[1]):
            e = make(o, "unknown", None, b_starts)
        emitters.append(e)
    rest = np.flatnonzero(kind == "unknown")
    if rest.size:
        bins_mhz = np.round(centre[rest] / 1e6).astype(int)
        for c in sorted(set(bins_mhz)):
            m = rest[bins_mhz == c]
            emitters.append(make(m, "unknown", None, t_first[m]))
    emitters.sort(key=lambda e: -e.power_dbm)
    return tuple(emitters)


# --------------------------------------------------------------------------------------------------
# Interference on a channel
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelInterference:
    """Strongest interferer in a channel's band and the signal-to-interference ratio.

    ``interferer_power_dbm`` is that emitter's power within the channel's 20 MHz while it is on
    (−inf when nothing reaches the channel); ``sir_db`` = ``signal_dbm`` − interferer power (NaN when no
    signal level was given, +inf with no interferer).
    """

    channel: int
    interferer_power_dbm: float
    interferer_kind: str | None
    interferer_center_hz: float
    sir_db: float


def channel_interference(emitters: tuple[Emitter, ...], channel: int, *, signal_dbm: float | None = None,
                         exclude: tuple[Emitter, ...] = (),
                         channel_width_hz: float = WIFI_CHANNEL_WIDTH_HZ) -> ChannelInterference:
    """Strongest emitter power within ``channel`` (its centre ± 10 MHz) and the SIR against
    ``signal_dbm`` (e.g. the DUT's channel power). Emitters in ``exclude`` (e.g. the DUT itself) are
    ignored."""
    fc = wifi24_center_hz(channel)
    lo, hi = fc - channel_width_hz / 2, fc + channel_width_hz / 2
    best, best_p = None, -math.inf
    for e in emitters:
        if any(e is x for x in exclude) or e.f_high_hz <= lo or e.f_low_hz >= hi:
            continue
        p = e.band_power_dbm(lo, hi)
        if p > best_p:
            best, best_p = e, p
    if signal_dbm is None:
        sir = math.nan
    else:
        sir = math.inf if best is None else float(signal_dbm) - best_p
    return ChannelInterference(channel, best_p, best.kind if best else None,
                               best.center_hz if best else math.nan, sir)
