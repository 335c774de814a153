"""current-ccdf: time statistics of the DUT's supply current on the CX3324A (standards.md §3, "CCDF of
current").

It reports the current exceeded 10 %, 1 %, 0.1 % and 0.01 % of the time, in absolute amperes, which
sizes the regulator and the battery's ESR. It also reports the share of time above the wake and TX
thresholds, which budgets the radio. Convention (labbench.analysis.ccdf): P(I >= level), over the
samples present, read in chunks through a level histogram; the fractions at the thresholds are exact.

This is a procedure of its own, not a `source=current` switch on the RF `ccdf` procedure. That one
measures power in dB above the mean on the N9030B (role analyzer). This one measures amperes on the
CX3324A (role current). One procedure would open both instruments for every run, and would mix dB and
ampere metrics in one limits table.

Clipping: a level is not measured (NaN) when the samples at the top of the range reach its
probability, the mean when any sample is clipped, the peak when any sample sits at the top. The
counts go to ``results/capture_checks/<capture>``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labbench.analysis.ccdf import LevelHistogram, current_ccdf
from labbench.capture import Capture
from labbench.instruments.keysight.cx3324a import CX3324A
from labbench.procedure import Analysis, Procedure
from labbench.procedures._current_capture import (
    CaptureValues,
    CurrentCaptureParams,
    acquire_current,
    clip_limits_a,
    metric_value,
    plot_current_ccdf,
    valid_range_a,
)

PROBABILITIES = (0.1, 0.01, 1e-3, 1e-4)
LEVEL_METRICS = ("current_p90_a", "current_p99_a", "current_p99_9_a", "current_p99_99_a")


@dataclass(frozen=True)
class CurrentCcdfParams(CurrentCaptureParams):
    awake_threshold_a: float = 1e-3        # above this the DUT is awake (MCU running)
    tx_threshold_a: float = 50e-3          # above this the radio transmits

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.awake_threshold_a < self.tx_threshold_a:
            raise ValueError(f"awake_threshold_a={self.awake_threshold_a} and tx_threshold_a={self.tx_threshold_a}: "
                             "need 0 < awake < tx")


class CurrentCcdfProcedure(Procedure):
    name = "current-ccdf"
    description = "CCDF of the DUT's supply current on the CX3324A: levels exceeded and time above thresholds"
    roles = {"current": CX3324A}
    Params = CurrentCcdfParams
    metrics = {
        "current_mean_a": "A", "current_peak_a": "A", "current_p90_a": "A", "current_p99_a": "A",
        "current_p99_9_a": "A", "current_p99_99_a": "A", "awake_time_pct": "%", "tx_time_pct": "%",
    }

    def acquire(self, bench, p: CurrentCcdfParams):
        yield "current", acquire_current(bench, p, ccdf=True)

    def analyze(self, captures: dict[str, Capture], p: CurrentCcdfParams) -> Analysis:
        capture = captures["current"]
        lo, hi = valid_range_a(capture)
        limits = clip_limits_a(capture)
        thresholds = (p.awake_threshold_a, p.tx_threshold_a)
        hist = LevelHistogram(thresholds=thresholds)
        rejected = missing = clipped_low = clipped_high = 0
        for _, x in CaptureValues(capture).chunks():
            missing += int(np.count_nonzero(np.isnan(x)))
            bad = ~np.isnan(x) & ((x < lo) | (x > hi))
            rejected += int(np.count_nonzero(bad))
            x[bad] = np.nan
            if limits is not None:
                tol = 1e-9 * (limits[1] - limits[0])
                clipped_high += int(np.count_nonzero(x >= limits[1] - tol))
                clipped_low += int(np.count_nonzero(x <= limits[0] + tol))
            hist.add(x)
        stats = current_ccdf(hist, probabilities=PROBABILITIES, thresholds_a=thresholds)
        n = stats.sample_count
        nan = float("nan")
        levels = [nan if clipped_high >= q * n else v for q, v in zip(PROBABILITIES, stats.levels_a)]
        mean = nan if clipped_low or clipped_high else stats.mean_a
        peak = nan if clipped_high else stats.peak_a
        top = limits[1] if limits is not None else np.inf
        awake, tx = (100.0 * f if t < top else nan for t, f in zip(thresholds, stats.fraction_at_or_above))
        m = self.metric
        metrics = [m("current_mean_a", mean), m("current_peak_a", peak),
                   *(m(name, v) for name, v in zip(LEVEL_METRICS, levels)),
                   m("awake_time_pct", awake), m("tx_time_pct", tx)]
        grid = np.logspace(-9, np.log10(max(hi, 1e-8)), 200)
        results = {
            "ccdf": {"level_a": grid, "fraction_at_or_above": np.asarray(hist.fraction_at_or_above(grid))},
            "levels": {"probability": np.array(PROBABILITIES), "level_a": np.array(stats.levels_a)},
            "capture_checks": {"current": {
                "n_samples": np.int64(capture.n), "valid_samples": np.int64(n), "missing_samples": np.int64(missing),
                "rejected_samples": np.int64(rejected), "clipped_samples": np.int64(clipped_low + clipped_high),
                "clipped": np.bool_(clipped_low + clipped_high > 0),
                "clip_limits_a": np.array(limits if limits else (nan, nan)),
                "range_a": np.float64(capture.settings.get("range_a", nan))}},
        }
        if clipped_low + clipped_high:
            results["capture_checks"]["current"]["message"] = (
                f"capture '{capture.name}': {clipped_low + clipped_high} of {capture.n} samples at the range limits "
                f"{limits} A; the levels and statistics they falsify are not measured (NaN)")
        theirs = capture.attrs.get("instrument_ccdf")
        if theirs:
            level = np.asarray(theirs["level_a"], dtype=np.float64)
            results["cross_check"] = {"instrument_level_a": level,
                                      "instrument_fraction": np.asarray(theirs["fraction"], dtype=np.float64),
                                      "labbench_fraction": np.asarray(hist.fraction_at_or_above(level))}
        message = results["capture_checks"]["current"].get("message")
        return Analysis(metrics, results, [str(message)] if message else [])

    def figures(self, step) -> list[tuple[str, object]]:
        """The CCDF in absolute amperes, with the instrument's own points when they were read."""
        from matplotlib.figure import Figure


        ccdf = step.results.get("ccdf")
        if ccdf is None:
            return []
        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        ax = fig.subplots()
        plot_current_ccdf(ax, ccdf["level_a"], ccdf["fraction_at_or_above"], metric_value(step, "current_p99_99_a"))
        cross = step.results.get("cross_check")
        if cross is not None:
            q = np.asarray(cross["instrument_fraction"])
            keep = q > 0
            ax.loglog(np.asarray(cross["instrument_level_a"])[keep], q[keep], "o", markersize=3,
                      label="instrument")
            ax.legend(fontsize="small")
        return [("Current CCDF", fig)]
