"""dfs: a 5 GHz DUT's dynamic frequency selection on a W53/W56 channel, watched by the N9030B in zero span
(standards.md §1, §7.5; tables and timing limits in labbench.analysis.radar_tables).

The test, t from the moment the channel is selected:
- the analyzer tunes to the channel centre; its first zero-span sweep there marks t = 0 (the simulated
  DUT starts its DFS test on that sweep; on a real bench the operator starts the DUT with it);
- the DUT must stay silent for the channel availability check (CAC: 60 s; ETSI 600 s on channels
  overlapping 5600-5650 MHz), then it may transmit;
- the radar test signal is injected ``radar_after_cac_s`` after the CAC (the test system fires it: the
  procedure is told when, never what);
- the DUT must leave within the channel move time (10 s), with at most the domain's closing transmission
  time (FCC 200 ms + 60 ms aggregate, ETSI 1 s, MIC 260 ms), and stay off the channel for the 30 min
  non-occupancy period.

Captures, all zero span at the channel centre, 8 MHz RBW, 0 dB attenuation (a -63 dBm radar pulse sits
some 30 dB over the floor), each placed on the analyzer's clock (`:SYSTem:PON:TIME?` at its start):
- ``cac``: coarse, from t = 0 to just before the radar, 20001 points, peak detector (a frame anywhere in
  a point shows);
- ``radar``: fine, around the expected burst: 0.1 us points (4 us for the 12 s long-pulse types) in
  consecutive 20000-point sweeps, RMS-average detector; stitched in time order, its sweeps' start
  times kept (attrs ``sweep_start_s``), so gaps between sweeps on a real analyzer are accounted for;
- ``move``: coarse, the next ``move_watch_s`` (12 s: the move time and its closing transmissions);
- ``nop``: coarse, the 30 min non-occupancy period after that.
Virtual time on the simulated bench: the whole hour of test takes seconds.

Analysis: runs over 20 dB above each capture's noise (:func:`noise_dbm`, capped at kTB + 30 dB) are
transmissions or pulses.
In ``radar`` the short ones (< ``dut_min_frame_s``, radar pulses are 0.5-110 us) are radar, the rest the
DUT. The radar burst's width, PRI and count give its type (labbench.analysis.dfs.classify_radar, within
the domain, and the band for MIC); pulses the DUT's frames may hide at either end of the train widen the
count tolerance by that many. The DUT's transmissions from every capture give the timing
(labbench.analysis.dfs.dfs_timing) from the end of the last radar pulse.

Limits that depend on the channel or domain are reported as margins so the limits file holds fixed bounds:
``cac_margin_s`` = CAC silence - the required CAC (>= 0), ``closing_tx_margin_s`` = the domain's closing
limit - closing time (>= 0); ``cac_silence_s`` and ``closing_tx_time_s`` are bounded by the loosest domain.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from labbench.analysis.dfs import (
    Segments, burst_parameters, classify_radar, dfs_timing, find_segments, split_radar_dut,
)
from labbench.analysis.radar_tables import (
    DFS_TIMING, DOMAINS, FCC6_SEQUENCE_S, RadarType, cac_time_s, check_channel, radar_type, radar_types,
)
from labbench.analysis.spectrum import GAUSSIAN_RBW_ENBW_RATIO, thermal_noise_dbm
from labbench.capture import Capture
from labbench.errors import AnalysisError, UsageError
from labbench.instruments.keysight.n9030b import N9030B
from labbench.procedure import Analysis, Procedure, choices

US = 1e-6
MAX_POINTS = 20001
THRESHOLD_DB = 20.0               # over each capture's noise (noise_dbm): see the module docstring
NOISE_CEILING_DB = 30.0           # noise figure and peak-detector excess that noise never exceeds
MERGE_GAP_S = 2e-6                # runs closer than this are one transmission (merge_dips)
FINE_PRE_S = 2e-3                 # the radar capture starts this long before the expected burst
FINE_POST_S = 3e-3                # ... and ends this long after its longest possible end
EDGE_LOOK = 10                    # pulse positions checked for DUT frames at each end of the train


@dataclass(frozen=True)
class DfsParams:
    band: str = choices("W53", "W56", default="W53")
    channel: int = 52                        # a channel of the band (5000 + 5 ch MHz)
    domain: str = choices(*DOMAINS, default="FCC")
    radar_type: str = "1"                    # the type injected, as the domain names it (FCC "1", MIC "W53-fixed-1")
    radar_after_cac_s: float | None = None   # when the radar fires after the CAC; None: the [dfs] profile's
                                             # (simulated bench), else 5 s
    rbw_hz: float = 8e6
    attenuation_db: float = 0.0
    fine_dt_s: float | None = None           # radar capture resolution; None: 0.1 us (4 us for 12 s bursts)
    dut_min_frame_s: float = 200e-6          # radar-capture runs this long or longer are the DUT's
    move_watch_s: float = 12.0               # coarse watch after the radar capture (move time + margin)
    non_occupancy_s: float = 1800.0

    def __post_init__(self):
        check_channel(self.band, self.channel)                 # UsageError listing the band's channels
        valid = radar_types(self.domain, self.band if self.domain == "MIC" else None, include_legacy=True)
        if self.radar_type not in {t.name for t in valid} | {t.key for t in valid}:
            where = f"{self.domain} in {self.band}" if self.domain == "MIC" else self.domain
            raise UsageError(f"dfs: radar_type={self.radar_type!r} is not a {where} radar type; valid: "
                             + ", ".join(t.name for t in valid))
        if not 0 < self.rbw_hz <= 8e6 or not self.move_watch_s > DFS_TIMING[self.domain].channel_move_time_s:
            raise ValueError("rbw_hz must be in (0, 8 MHz] and move_watch_s longer than the 10 s move time")
        if self.fine_dt_s is not None and not self.fine_dt_s > 0:
            raise ValueError(f"fine_dt_s={self.fine_dt_s}: must be positive")

    @property
    def radar(self) -> RadarType:
        return radar_type(self.domain, self.radar_type)


def burst_span_s(t: RadarType) -> float:
    """The longest a burst of this type can last (radar_tables), for sizing the radar capture."""
    if t.bursts[1] > 1:
        return float(t.burst_window_s)
    if t.hopping:
        return FCC6_SEQUENCE_S
    if t.pulse_count_rule == "fcc1":                         # N(PRI)·PRI is at most 19e6/360 us + one PRI
        return 19e6 / 360.0 * US + t.pri_s[1]
    pairs_long = t.pair.blank_s[1] + t.pair.long_width_s[1] if t.pair else 0.0
    return t.pulses_per_burst[1] * t.prf_count[1] * t.pri_s[1] + t.pulse_width_s[1] + pairs_long


def fine_dt_s(t: RadarType, override: float | None) -> float:
    """0.1 us resolves 0.5 us pulses to the classifier's 0.15 us; 12 s bursts of 50-100 us pulses need 4 us."""
    return override or (4 * US if t.bursts[1] > 1 else 0.1 * US)


class Dfs(Procedure):
    name = "dfs"
    description = "5 GHz DFS on a W53/W56 channel: CAC silence, radar type, move and closing time, non-occupancy"
    roles = {"analyzer": N9030B}
    Params = DfsParams
    metrics = {
        "cac_silence_s": "s", "cac_margin_s": "s", "channel_move_time_s": "s", "closing_tx_time_s": "s",
        "closing_tx_margin_s": "s", "radar_pulses_detected": "", "radar_pulse_width_s": "s", "radar_pri_s": "s",
        "radar_type_match": "", "nop_transmissions": "", "nop_observed_s": "s",
    }

    # ------------------------------------------------------------ acquire
    def acquire(self, bench, p: DfsParams):
        sa: N9030B = bench.analyzer
        center = check_channel(p.band, p.channel)
        after_cac = p.radar_after_cac_s
        if after_cac is None:
            dfs_section = bench.profile.section("dfs") if getattr(bench, "profile", None) is not None else {}
            after_cac = float(dfs_section.get("radar_after_cac_s", 5.0))
        radar_at = cac_time_s(p.domain, p.channel) + after_cac
        dt = fine_dt_s(p.radar, p.fine_dt_s)
        fine_len = FINE_PRE_S + burst_span_s(p.radar) + FINE_POST_S
        info = {"center_hz": center, "channel": p.channel, "band": p.band, "domain": p.domain,
                "radar_expected_s": radar_at, "radar_after_cac_s": after_cac}

        def zero_span(sweep_time_s: float, points: int, detector: str) -> None:
            sa.configure_zero_span(center, sweep_time_s, points=points, rbw_hz=p.rbw_hz, vbw_hz=50e6,
                                   detector=detector, average_type="RMS", attenuation_db=p.attenuation_db)

        # t = 0: the first sweep on the channel selects it
        zero_span(radar_at - FINE_PRE_S, MAX_POINTS, "POSitive")
        cac = sa.sweep(name="cac")
        t0 = float(cac.attrs["sweep_start_s"])
        yield "cac", self._placed(cac, t0, sa, info)

        zero_span((MAX_POINTS - 1) * dt, MAX_POINTS, "AVERage")
        sweeps = []
        covered = 0.0
        while covered < fine_len:
            sweeps.append(sa.sweep(name="radar"))
            covered += (MAX_POINTS - 1) * dt
        yield "radar", self._placed(self._stitch(sweeps), t0, sa, info)

        zero_span(p.move_watch_s, MAX_POINTS, "POSitive")
        yield "move", self._placed(sa.sweep(name="move"), t0, sa, info)
        zero_span(p.non_occupancy_s, MAX_POINTS, "POSitive")
        yield "nop", self._placed(sa.sweep(name="nop"), t0, sa, info)

    @staticmethod
    def _placed(cap: Capture, t0_s: float, sa: N9030B, info: dict) -> Capture:
        """x in s from channel selection: the sweep's start on the analyzer's clock minus t0."""
        cap.x0 = float(cap.attrs["sweep_start_s"]) - t0_s
        cap.attrs.update(info)
        cap.attrs["channel_selected_s"] = t0_s
        cap.settings.update(sa.settings())
        return cap

    @staticmethod
    def _stitch(sweeps: list[Capture]) -> Capture:
        """Consecutive zero-span sweeps as one capture: each sweep's last point (the next sweep's first
        instant) dropped; attrs sweep_start_s lists where each sweep began (the first is the capture's)."""
        first = sweeps[0]
        data = np.concatenate([s.data[:-1] for s in sweeps])
        starts = [float(s.attrs["sweep_start_s"]) for s in sweeps]
        return Capture(name="radar", data=data, x0=0.0, dx=first.dx, x_unit="s", y_unit=first.y_unit,
                       instrument=first.instrument, settings=dict(first.settings),
                       attrs={"sweep_start_s": starts[0], "sweep_starts_s": starts,
                              "samples_per_sweep": int(first.data.size - 1), "sweeps": len(sweeps)})

    # ------------------------------------------------------------ analyze
    def analyze(self, captures: dict[str, Capture], p: DfsParams) -> Analysis:
        missing = [n for n in ("cac", "radar", "move", "nop") if n not in captures]
        if missing:
            raise AnalysisError(f"dfs needs the captures cac, radar, move and nop; missing: {', '.join(missing)}")
        segs = {name: segments(captures[name]) for name in ("cac", "radar", "move", "nop")}
        radar, dut_in_radar = split_radar_dut(segs["radar"], dut_min_frame_s=p.dut_min_frame_s)
        cut = radar.select(radar.censored)       # short runs cut by the capture's ends: counted as the DUT's
        radar = radar.select(~radar.censored)
        rc = captures["radar"]
        expected = p.radar
        band = p.band if p.domain == "MIC" else None
        if len(radar):
            params = burst_parameters(radar, observed_s=rc.n * rc.dx)
            hidden = hidden_at_edges(params, dut_in_radar)
            match = classify_radar(params, p.domain, band, count_tolerance=hidden)
            radar_end = params.last_pulse_end_s
            found, width, pri = match.best_key, params.pulse_width_s, params.pri_s
        else:                        # no radar seen: timing from the expected injection, type unknown
            params = match = None
            hidden = 0
            radar_end = float(rc.attrs.get("radar_expected_s", rc.x0))
            found, width, pri = "unknown", math.nan, math.nan
        dut = Segments.concat([segs["cac"], dut_in_radar, cut, segs["move"], segs["nop"]],
                              max(c.dx for c in captures.values()), math.nan)
        dut = _sorted(dut, np.argsort(dut.start_s, kind="stable"))
        nop = captures["nop"]
        trace_end = nop.x0 + (nop.n - 1) * nop.dx
        timing = dfs_timing(dut, channel_selected_s=0.0, radar_end_s=radar_end, trace_end_s=trace_end,
                            domain=p.domain)
        lim = DFS_TIMING[p.domain]
        cac_required = cac_time_s(p.domain, p.channel)
        m = self.metric
        notes = []
        # move and closing times count from the radar: with no radar found they are not measured
        move_s = timing.channel_move_time_s if len(radar) else math.nan
        closing_s = timing.closing_tx_time_s if len(radar) else math.nan
        if not len(radar):
            notes.append("no radar burst was found in the fine capture, so the channel move and closing times "
                         "are not measured; check radar_after_cac_s, rbw_hz and the radar generator")
        elif found != expected.key:
            notes.append(f"the radar found is {found}, not the expected {expected.key}; on the simulated bench the "
                         "radar generator and the DUT's own DFS domain come from the DUT profile's [dfs] section")
        metrics = [
            m("cac_silence_s", timing.cac_silence_s), m("cac_margin_s", timing.cac_silence_s - cac_required),
            m("channel_move_time_s", move_s), m("closing_tx_time_s", closing_s),
            m("closing_tx_margin_s", lim.closing_tx_limit_s - closing_s),
            m("radar_pulses_detected", len(radar)), m("radar_pulse_width_s", width), m("radar_pri_s", pri),
            m("radar_type_match", 1.0 if found == expected.key else 0.0),
            m("nop_transmissions", timing.nop_tx_count), m("nop_observed_s", timing.nop_observed_s),
        ]
        results = {
            "radar": {"type": found, "expected": expected.key,
                      "candidates": np.array([c.radar.key for c in match.candidates] if match else [], dtype=str),
                      "pulse_start_s": _pulse_starts(radar), "pulse_width_s": radar.width_s,
                      "peak_dbm": radar.peak_dbm, "pris_s": np.asarray(params.pris_s if params else []),
                      "pulses_per_burst": np.asarray(params.pulses_per_burst if params else [], dtype=np.int64),
                      "missing_pulses": np.int64(params.missing_pulses if params else 0),
                      "hidden_at_edges": np.int64(hidden), "end_s": np.float64(radar_end)},
            "dut": {"start_s": dut.start_s, "end_s": dut.end_s, "peak_dbm": dut.peak_dbm},
            "timing": {"cac_required_s": np.float64(cac_required), "first_tx_s": np.float64(timing.first_tx_s),
                       "closing_tx_total_s": np.float64(timing.closing_tx_total_s),
                       "closing_tx_limit_s": np.float64(lim.closing_tx_limit_s),
                       "closing_free_window_s": np.float64(lim.closing_free_window_s),
                       "move_limit_s": np.float64(lim.channel_move_time_s),
                       "non_occupancy_s": np.float64(lim.non_occupancy_s),
                       "move_censored": np.int64(timing.move_censored), "trace_end_s": np.float64(trace_end)},
            "events": timeline_events(timing, cac_required, params, radar_end, lim),
        }
        return Analysis(metrics, results, notes)

    # ------------------------------------------------------------ figures
    def figures(self, step) -> list[tuple[str, object]]:
        """The test's timeline (CAC and move, then the whole non-occupancy period) and the radar burst, from
        the stored captures and the events in the results."""
        from matplotlib.figure import Figure

        from labbench import plots

        events = step.results.get("events", {})
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in np.atleast_1d(events.get("name", []))]
        times = np.atleast_1d(np.asarray(events.get("time_s", []), dtype=float))
        out = []
        try:
            caps = {n: step.capture(n) for n in ("cac", "radar", "move", "nop")}
        except Exception:
            return out
        radar_end = float(step.results.get("radar", {}).get("end_s", np.nan))

        def figure():
            fig = Figure(figsize=(8.0, 4.0), layout="constrained")
            return fig, fig.subplots()

        t, y = _timeline([caps[n] for n in ("cac", "radar", "move")])
        keep = t <= (radar_end + 12.0 if math.isfinite(radar_end) else t[-1])
        fig, ax = figure()
        plots.plot_dfs_timeline(t[keep], y[keep], [(tt, n) for tt, n in zip(times, names) if tt <= t[keep][-1]],
                                ax=ax, title="DFS: channel availability check, radar and channel move")
        out.append(("DFS timeline", fig))
        t, y = _timeline([caps["move"], caps["nop"]])
        fig, ax = figure()
        plots.plot_dfs_timeline(t, y, [(tt, n) for tt, n in zip(times, names) if tt >= t[0]], ax=ax,
                                title="DFS: non-occupancy period")
        out.append(("Non-occupancy period", fig))
        rc = caps["radar"]
        starts = np.asarray(step.results.get("radar", {}).get("pulse_start_s", []), dtype=float)
        if starts.size:
            lo = max(0, int((starts[0] - rc.x0) / rc.dx) - 2000)
            hi = min(rc.n, int((starts[min(starts.size - 1, 3)] - rc.x0) / rc.dx) + 4000)
            fig, ax = figure()
            plots.plot_dfs_timeline(rc.x(lo, hi), rc.values(lo, hi), [], ax=ax,
                                    title=f"Radar burst: first pulses ({step.results['radar'].get('type', '?')})")
            out.append(("Radar pulses", fig))
        return out


# ---------------------------------------------------------------- helpers (pure)

def noise_dbm(cap: Capture) -> float:
    """The capture's noise. Peak detector: its 1st percentile (the peak of many looks at noise varies by a
    dB or two, and a DUT busy 99 % of the time still leaves the floor visible). Average or sample detector
    (noise spreads over tens of dB below its mean): the median (the DUT must be off half of the time). Never
    above kTB in the RBW's noise bandwidth + NOISE_CEILING_DB + the attenuation, so a capture the DUT fills
    from end to end cannot pass for noise."""
    values = cap.values()
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        raise AnalysisError(f"capture '{cap.name}' holds no readings")
    peak = str(cap.settings.get("detector", "")).upper().startswith("POS")
    floor = float(np.percentile(finite[:: max(1, finite.size // 1_000_000)], 1 if peak else 50))
    rbw = float(cap.settings.get("rbw_hz") or 8e6)
    ceiling = thermal_noise_dbm(GAUSSIAN_RBW_ENBW_RATIO * rbw) + NOISE_CEILING_DB \
        + float(cap.settings.get("attenuation_db") or 0.0)
    return min(floor, ceiling)


def segments(cap: Capture) -> Segments:
    """Runs more than THRESHOLD_DB over the capture's noise (:func:`noise_dbm`) on its own time axis; the
    stitched radar capture is taken sweep by sweep at each sweep's own start."""
    values = cap.values()
    threshold = noise_dbm(cap) + THRESHOLD_DB
    starts = cap.attrs.get("sweep_starts_s")
    per = int(cap.attrs.get("samples_per_sweep") or values.size)
    offsets = [float(s) - float(starts[0]) for s in starts] if starts else [0.0]
    if all(abs(o - k * per * cap.dx) <= cap.dx / 2 for k, o in enumerate(offsets)):
        found = find_segments(values, cap.dx, t0_s=cap.x0, threshold_dbm=threshold)   # one record
    else:                         # sweeps with gaps between them: each on its own clock
        found = Segments.concat([find_segments(values[k * per:(k + 1) * per], cap.dx, t0_s=cap.x0 + o,
                                               threshold_dbm=threshold) for k, o in enumerate(offsets)],
                                cap.dx, threshold)
    return merge_dips(found, MERGE_GAP_S)


def merge_dips(seg: Segments, gap_s: float) -> Segments:
    """Runs less than ``gap_s`` apart as one: a noise-like transmission (OFDM) dips below the threshold
    now and then for a fraction of a microsecond, which must not cut a frame into pulse-sized pieces.
    Radar pulses are at least 50 us apart (W53 pair blanks; PRIs >= 150 us)."""
    if len(seg) < 2:
        return seg
    new = np.concatenate(([True], seg.start_s[1:] - seg.end_s[:-1] >= gap_s))
    if new.all():
        return seg
    first = np.flatnonzero(new)
    last = np.r_[first[1:], len(seg)] - 1
    merged = first != last
    width = seg.width_s[first].copy()
    width[merged] = np.nan                    # a joined run is no pulse: no half-peak width
    return Segments(seg.start_s[first], seg.end_s[last], width,
                    np.maximum.reduceat(seg.peak_dbm, first),
                    np.logical_or.reduceat(seg.censored, first), seg.dt_s, seg.threshold_dbm,
                    np.where(merged, np.nan, seg.pulse_start_s[first]))


def _sorted(seg: Segments, order: np.ndarray) -> Segments:
    return seg.replace(**{n: getattr(seg, n)[order] for n in ("start_s", "end_s", "width_s", "peak_dbm",
                                                               "censored", "pulse_start_s")})


def _pulse_starts(seg: Segments) -> np.ndarray:
    return np.where(np.isfinite(seg.pulse_start_s), seg.pulse_start_s, seg.start_s)


def hidden_at_edges(params, dut: Segments) -> int:
    """Pulse positions just before the first and after the last pulse of the train (one PRI apart, up
    to EDGE_LOOK each way) that DUT transmissions cover: a pulse there would be hidden, so the pulse count
    may be short by that many. Counted until the first uncovered position on each side."""
    pri = params.pri_s
    if not (math.isfinite(pri) and pri > 0) or not len(dut):
        return 0
    half = params.pulse_width_s + 2 * params.time_resolution_s
    hidden = 0
    last_start = params.last_pulse_end_s - params.pulse_width_s
    for origin, step in ((params.first_pulse_s, -pri), (last_start, pri)):
        for k in range(1, EDGE_LOOK + 1):
            t = origin + k * step
            if not np.any((dut.start_s <= t + half) & (dut.end_s >= t - half)):
                break
            hidden += 1
    return hidden


def timeline_events(timing, cac_required_s: float, params, radar_end_s: float, lim) -> dict:
    """The test's landmarks for the timeline plot: (time_s, name) in time order."""
    events = [(0.0, "channel selected"), (cac_required_s, "CAC required")]
    if timing.dut_transmitted:
        events.append((timing.first_tx_s, "first DUT transmission"))
    if params is not None:
        events.append((params.first_pulse_s, "radar"))
    events += [(radar_end_s + lim.closing_free_window_s, "closing window")] if lim.closing_free_window_s else []
    events += [(radar_end_s + lim.channel_move_time_s, "move time limit"),
               (radar_end_s + timing.channel_move_time_s, "last DUT transmission"),
               (radar_end_s + lim.non_occupancy_s, "non-occupancy end")]
    events.sort()
    return {"time_s": np.array([e[0] for e in events]), "name": np.array([e[1] for e in events], dtype=str)}


def _timeline(caps: list[Capture], max_points: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    """Captures end to end, each reduced to at most max_points by keeping every block's highest reading."""
    ts, ys = [], []
    for c in caps:
        v = c.values()
        k = max(1, int(math.ceil(v.size / max_points)))
        n = v.size // k * k
        ts.append(c.x(0, n)[::k])
        ys.append(v[:n].reshape(-1, k).max(axis=1))
    return np.concatenate(ts), np.concatenate(ys)
