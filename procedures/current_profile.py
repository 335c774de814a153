"""current-profile: sleep/resume current profile of the DUT on the CX3324A (standards.md §5).

One triggered record of the supply current goes through ``labbench.analysis.current``. It yields
the power states (levels found from the data, with hysteresis), each wake event's charge and energy,
the wake-up transient, the average over whole periods, battery life, the 0.01 % current and the
current spectrum. Clipping (a range too small for the signal) is reported per capture under
``results/capture_checks/<capture>``. Metrics that clipped samples would falsify become NaN, and a NaN
never passes a limit. Impossible samples are rejected and counted in the same place.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labbench.analysis.current import CurrentProfile, analyze_current
from labbench.capture import Capture
from labbench.instruments.keysight.cx3324a import CX3324A
from labbench.procedure import Analysis, Procedure, choices
from labbench.procedures._current_capture import (
    CaptureValues,
    CurrentCaptureParams,
    acquire_current,
    capture_stats,
    clip_limits_a,
    metric_value,
    plot_current_ccdf,
    valid_range_a,
)

WAKE_TRACE_MAX_SAMPLES = 200_000
DEFAULT_SUPPLY_V = 3.0                          # CR2032 nominal, when neither the parameter nor the DUT says


@dataclass(frozen=True)
class CurrentProfileParams(CurrentCaptureParams):
    supply_v: float | None = None               # for energy; None: the DUT profile's [power] supply_v, else 3.0 V
    capacity_mah: float = 225.0                 # battery (CR2032)
    derating: float = 0.8                       # usable fraction of capacity (standards.md §5: 0.7-0.85)
    self_discharge_pct_per_year: float = 0.0
    on_clip: str = choices("flag", "raise", "measure", default="flag")   # what clipping does to metrics

    def __post_init__(self):
        super().__post_init__()
        if self.supply_v is not None and not self.supply_v > 0:
            raise ValueError(f"supply_v={self.supply_v}: must be positive")
        if not self.capacity_mah > 0:
            raise ValueError(f"capacity_mah={self.capacity_mah}: must be positive")
        if not 0 < self.derating <= 1:
            raise ValueError(f"derating={self.derating}: must be in (0, 1]")
        if not 0 <= self.self_discharge_pct_per_year < 100:
            raise ValueError(f"self_discharge_pct_per_year={self.self_discharge_pct_per_year}: must be in [0, 100)")


class CurrentProfileProcedure(Procedure):
    name = "current-profile"
    description = "Sleep/resume current profile and battery life of the DUT on the CX3324A"
    roles = {"current": CX3324A}
    Params = CurrentProfileParams
    metrics = {
        "sleep_current_a": "A", "active_current_a": "A", "tx_peak_current_a": "A", "wake_event_charge_c": "C",
        "wake_event_energy_j": "J", "resume_time_s": "s", "avg_current_a": "A", "battery_life_h": "h",
        "current_p99_99_a": "A", "wake_overshoot_pct": "%", "wake_settling_time_s": "s",
        "current_spur_freq_hz": "Hz",
    }

    def acquire(self, bench, p: CurrentProfileParams):
        yield "current", acquire_current(bench, p)

    def analyze(self, captures: dict[str, Capture], p: CurrentProfileParams) -> Analysis:
        capture = captures["current"]
        valid = valid_range_a(capture)
        supply_v = p.supply_v or float(capture.attrs.get("supply_v", DEFAULT_SUPPLY_V))
        profile = analyze_current(
            CaptureValues(capture), capture.dx, x0_s=capture.x0, supply_v=supply_v, capacity_mah=p.capacity_mah,
            derating=p.derating, self_discharge_pct_per_year=p.self_discharge_pct_per_year,
            valid_range_a=valid, clip_limits_a=clip_limits_a(capture), on_clip=p.on_clip)
        stats = capture_stats(capture, valid)
        metrics = [self.metric(name, value) for name, value in profile.metric_values().items()]
        results = {
            "states": _state_table(profile),
            "events": _event_table(profile),
            "spectrum": {"freq_hz": profile.spectrum.freq_hz, "density_a2_hz": profile.spectrum.density,
                         "resolution_hz": np.float64(profile.spectrum.resolution_hz),
                         "segments": np.int64(profile.spectrum.segments)},
            "spurs": {"freq_hz": np.array([s.freq_hz for s in profile.spurs]),
                      "rms_a": np.array([s.rms for s in profile.spurs]),
                      "prominence_db": np.array([s.prominence_db for s in profile.spurs])},
            "ccdf": dict(zip(("level_a", "fraction_above"), profile.ccdf.curve())),
            "capture_checks": {"current": _checks(capture, profile)},
            "summary": {"peak_current_a": np.float64(profile.peak_current_a), "period_s": np.float64(profile.period_s),
                        "wake_rise_time_s": np.float64(profile.wake_rise_time_s),
                        "levels_a": np.array(profile.levels_a), "supply_v": np.float64(supply_v),
                        "battery_life_years": np.float64(profile.battery_life_years),
                        "wake_threshold_a": np.float64(profile.wake_threshold_a)},
            "trace": {"time_s": stats.envelope_time_s, "max_a": stats.envelope_max_a, "min_a": stats.envelope_min_a},
            "cross_check": _cross_check(capture, profile, stats),
        }
        wake = _wake_trace(capture, profile)
        if wake is not None:
            results["wake_trace"] = wake
        message = results["capture_checks"]["current"].get("message")
        return Analysis(metrics, results, [str(message)] if message else [])

    def figures(self, step) -> list[tuple[str, object]]:
        """The whole record (max/min envelope, log scale, wake events shaded), the first wake event at
        full resolution, the CCDF and the spectrum, all from the step's stored results."""
        from matplotlib.figure import Figure

        from labbench import plots

        def figure(size=(8.0, 4.0)):
            fig = Figure(figsize=size, layout="constrained")
            return fig, fig.subplots()

        out = []
        r = step.results
        trace, events = r.get("trace"), r.get("events")
        if trace is not None and np.size(trace["time_s"]):
            fig, ax = figure()
            spans = None
            if events is not None and np.size(events["start_s"]):
                spans = [(a, b, "wake") for a, b in zip(np.atleast_1d(events["start_s"]), np.atleast_1d(events["end_s"]))]
            plots.plot_current_profile(trace["time_s"], trace["max_a"], spans, ax=ax, log=True,
                                       title="Supply current (max per bin)")
            out.append(("Current profile", fig))
        wake = r.get("wake_trace")
        if wake is not None:
            fig, ax = figure()
            plots.plot_current_profile(wake["time_s"], wake["current_a"], ax=ax, title="First complete wake event")
            out.append(("Wake event", fig))
        ccdf = r.get("ccdf")
        if ccdf is not None:
            fig, ax = figure((6.4, 4.0))
            plot_current_ccdf(ax, ccdf["level_a"], ccdf["fraction_above"], metric_value(step, "current_p99_99_a"))
            out.append(("Current CCDF", fig))
        spectrum = r.get("spectrum")
        if spectrum is not None:
            fig, ax = figure((6.4, 4.0))
            _plot_current_psd(ax, spectrum["freq_hz"], spectrum["density_a2_hz"], r.get("spurs", {}).get("freq_hz"))
            out.append(("Current spectrum", fig))
        return out


# ---------------------------------------------------------------- results tables

def _state_table(profile: CurrentProfile) -> dict:
    s = profile.states
    return {
        "name": np.array([x.name for x in s]), "level_a": np.array([x.level_a for x in s]),
        "mean_current_a": np.array([x.mean_current_a for x in s]), "dwell_s": np.array([x.dwell_s for x in s]),
        "charge_c": np.array([x.charge_c for x in s]), "time_fraction": np.array([x.time_fraction for x in s]),
        "visits": np.array([x.visits for x in s], dtype=np.int64),
        "max_current_a": np.array([x.max_current_a for x in s]),
        "clipped_samples": np.array([x.clipped_samples for x in s], dtype=np.int64),
    }


def _event_table(profile: CurrentProfile) -> dict:
    e = profile.events

    def column(get) -> np.ndarray:
        return np.array([get(x) for x in e], dtype=np.float64)

    table = {name: column(lambda x, n=name: getattr(x, n)) for name in (
        "start_s", "end_s", "duration_s", "charge_c", "energy_j", "mean_current_a", "peak_current_a")}
    table["complete"] = np.array([x.complete for x in e], dtype=bool)
    for name in ("resume_time_s", "rise_time_s", "overshoot_pct", "settling_time_s", "active_level_a"):
        table[name] = column(lambda x, n=name: getattr(x.transient, n))     # the wake transient
    return table


def _checks(capture: Capture, profile: CurrentProfile) -> dict:
    """What was wrong with the samples of one capture, counted (never averaged away)."""
    limits = clip_limits_a(capture)
    checks = {
        "n_samples": np.int64(profile.n_samples), "duration_s": np.float64(profile.duration_s),
        "missing_samples": np.int64(profile.missing_samples), "rejected_samples": np.int64(profile.rejected_samples),
        "clipped_samples": np.int64(profile.clipped_samples), "clipped": np.bool_(profile.clipped),
        "clip_limits_a": np.array(limits if limits else (np.nan, np.nan)),
        "range_a": np.float64(capture.settings.get("range_a", np.nan)),
    }
    if profile.clipped:
        checks["message"] = (f"capture '{capture.name}': {profile.clipped_samples} of {profile.n_samples} samples at "
                             f"the range limits {limits} A; the range is too small for the signal, so the "
                             "metrics they would falsify are not measured (NaN)")
    if profile.rejected_samples:
        checks["rejected_message"] = (f"capture '{capture.name}': {profile.rejected_samples} impossible samples "
                                      f"(outside {valid_range_a(capture)} A, or infinite) left out")
    return checks


def _cross_check(capture: Capture, profile: CurrentProfile, stats) -> dict:
    """labbench's numbers next to the instrument's own for the same record. The mean comes from the
    state table (the charge of every state over the record's duration); it equals the plain mean when
    the states cover every sample exactly once."""
    charge = sum(s.charge_c for s in profile.states)
    out = {"labbench_mean_a": np.float64(charge / profile.duration_s),
           "labbench_max_a": np.float64(profile.peak_current_a), "labbench_min_a": np.float64(stats.min_a),
           "labbench_pp_a": np.float64(profile.peak_current_a - stats.min_a), "labbench_rms_a": np.float64(stats.rms_a)}
    for key, value in (capture.attrs.get("instrument_measurements") or {}).items():
        out[f"instrument_{key}"] = np.float64(np.nan if value is None else value)
    return out


def _wake_trace(capture: Capture, profile: CurrentProfile) -> dict | None:
    """The first complete wake event at full resolution, with a quarter of its length either side."""
    event = next((e for e in profile.events if e.complete), None)
    if event is None:
        return None
    margin = 0.25 * event.duration_s
    a = max(0, int((event.start_s - margin - capture.x0) / capture.dx))
    b = min(capture.n, int((event.end_s + margin - capture.x0) / capture.dx) + 1, a + WAKE_TRACE_MAX_SAMPLES)
    return {"time_s": capture.x(a, b), "current_a": capture.values(a, b)}


# ---------------------------------------------------------------- drawing

def _plot_current_psd(ax, freq_hz, density_a2_hz, spurs_hz=None):
    """Current noise density in dB re 1 A^2/Hz against frequency, spurs marked."""
    f = np.asarray(freq_hz, dtype=np.float64)
    d = np.asarray(density_a2_hz, dtype=np.float64)
    keep = (f > 0) & (d > 0)
    ax.semilogx(f[keep], 10 * np.log10(d[keep]), linewidth=0.7, label="PSD")
    for k, fs in enumerate(np.atleast_1d(spurs_hz) if spurs_hz is not None else []):
        ax.axvline(float(fs), color="tab:red", alpha=0.5, linewidth=0.8, label="spurs" if k == 0 else None)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("dB re 1 A²/Hz")
    ax.set_title("Current spectrum")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return ax

