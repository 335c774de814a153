"""rail-noise: DC level, ripple, noise, switching spurs and worst deviation of the DUT's core rail on the
MSOS604A with a power-rail probe (standards.md §6: 20 MHz bandwidth, +-3 % window on a 1.0 V rail)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from labbench.analysis.rail import analyze_rail
from labbench.capture import Capture
from labbench.errors import AnalysisError
from labbench.instruments.keysight.msos604a import MSOS604A
from labbench.procedure import Analysis, Procedure, choices

COARSE_SCALES_V = (0.02, 0.1, 0.5)   # V/div tried in turn until the rail is on screen (autorange)
SCREEN_HALF_DIV = 4.0
FIT_DIVISIONS = 6.0                  # autorange puts the rail's extremes over 6 of the 8 divisions
MAX_RETRIES = 3                      # a clipped autoranged capture is taken again at twice the scale
FFT_FUNCTION = 1
SWITCHING_BAND_HZ = (10e3, np.inf)
ENVELOPE_BINS = 2000


@dataclass(frozen=True)
class RailNoiseParams:
    nominal_v: float = 1.0                  # the rail's nominal voltage
    tolerance_pct: float = 3.0              # +- window for the worst deviation (standards.md §6)
    bandwidth_hz: float = 20e6              # ripple bandwidth: the scope's limit and the analysis filter
    channel: int = 1
    scale_v: float | None = None            # V/div; None: autorange on the scope's own VMIN/VMAX
    offset_v: float | None = None           # None: centred on the rail (autorange) or the nominal
    sample_rate_sa_s: float = 200e6
    points: int = 2_000_000
    pretrigger_s: float = 1e-3              # record start before the trigger
    trigger: str = choices("load-step", "auto", default="load-step")
    trigger_timeout_s: float = 120.0        # how long a load step may take to come (a wake period)
    fft: bool = True                        # also read the scope's own FFT of the rail
    cross_check: bool = True                # also read the scope's own VPP / VRMS / VAVerage

    def __post_init__(self):
        if not self.nominal_v > 0:
            raise ValueError(f"nominal_v={self.nominal_v}: must be positive")
        if not self.tolerance_pct > 0:
            raise ValueError(f"tolerance_pct={self.tolerance_pct}: must be positive")
        if not 0 < self.bandwidth_hz < self.sample_rate_sa_s / 2:
            raise ValueError(f"bandwidth_hz={self.bandwidth_hz:g}: must be below half the sample rate "
                             f"({self.sample_rate_sa_s / 2:g} Hz)")
        if self.points < 1024:
            raise ValueError(f"points={self.points}: at least 1024")


def nice_scale_v(scale_v: float) -> float:
    """The next 1-2-5 step at or above scale_v (1 mV/div at least)."""
    scale_v = max(scale_v, 1e-3)
    decade = 10.0 ** math.floor(math.log10(scale_v))
    for step in (1.0, 2.0, 5.0, 10.0):
        if scale_v <= step * decade * (1 + 1e-9):
            return step * decade
    return 10.0 * decade


class RailNoise(Procedure):
    name = "rail-noise"
    description = "Supply-rail DC, ripple, noise and spurs of the DUT's core rail on the MSOS604A"
    roles = {"rail": MSOS604A}
    Params = RailNoiseParams
    metrics = {"rail_dc_v": "V", "ripple_pp_v": "V", "noise_rms_v": "V", "switching_freq_hz": "Hz",
               "spur_max_dbv": "dBV", "worst_deviation_pct": "%"}

    # ------------------------------------------------------------ acquire
    def acquire(self, bench, p: RailNoiseParams):
        scope: MSOS604A = bench.rail
        ch, source = p.channel, f"CHANnel{p.channel}"
        offset = p.nominal_v if p.offset_v is None else p.offset_v
        scope.setup_rail_capture(ch, offset_v=offset, scale_v=p.scale_v or COARSE_SCALES_V[0],
                                 bandwidth_hz=p.bandwidth_hz, sample_rate_sa_s=p.sample_rate_sa_s,
                                 points=p.points, pretrigger_s=p.pretrigger_s)
        timeout_s = p.points / p.sample_rate_sa_s + p.trigger_timeout_s + 10.0
        autorange = p.scale_v is None
        level = None
        if autorange:
            offset, scale, level = self._autorange(scope, ch, offset, p, timeout_s)
        elif p.trigger == "load-step":
            # a fixed screen: trigger on a dip below the free-running minimum
            scope.trigger_on_rail(ch, None)
            scope.digitize(ch, timeout_s=timeout_s)
            vmin, vmax = scope.measure("VMIN", source), scope.measure("VMAX", source)
            level = self._trigger_level(vmin, vmax)
        scope.trigger_on_rail(ch, level)
        for attempt in range(MAX_RETRIES + 1):
            capture = scope.acquire(ch, timeout_s=timeout_s)
            if not (autorange and capture.clipped_count()) or attempt == MAX_RETRIES:
                break
            scale = nice_scale_v(2.0 * scope.channel(ch).scale_v)
            scope.set_vertical(ch, offset_v=offset, scale_v=scale)
        capture.name = "rail"
        capture.attrs.update({
            "nominal_v": p.nominal_v, "trigger_level_v": level, "triggered": scope.triggered(),
            "adc_bits": scope.adc_bits, "autoranged": autorange, "clipped_retries": attempt,
        })
        if p.cross_check:
            capture.attrs["scope_measurements"] = {
                "vpp_v": scope.vpp_v(source), "vrms_ac_v": scope.vrms_ac_v(source),
                "vaverage_v": scope.vaverage_v(source),
            }
        capture.settings.update(scope.settings())
        yield "rail", capture
        if p.fft:
            yield "fft", scope.rail_fft(FFT_FUNCTION, ch, stop_hz=p.bandwidth_hz)

    @staticmethod
    def _trigger_level(vmin_v: float, vmax_v: float) -> float | None:
        """Below the free-running minimum by a quarter of the pk-pk (1 mV at least): only a load step
        reaches it. None (free-running) when the scope could not measure."""
        if not (math.isfinite(vmin_v) and math.isfinite(vmax_v)):
            return None
        return vmin_v - max(0.25 * (vmax_v - vmin_v), 1e-3)

    def _autorange(self, scope: MSOS604A, ch: int, offset_v: float, p: RailNoiseParams, timeout_s: float):
        """Offset and scale from the scope's own VMIN/VMAX: free-running at coarse scales until the rail
        is on screen, then (load-step trigger) once more triggered so the dip is inside the fit."""
        source = f"CHANnel{ch}"
        scope.trigger_on_rail(ch, None)
        vmin = vmax = float("nan")
        for scale in COARSE_SCALES_V:
            scope.set_vertical(ch, offset_v=offset_v, scale_v=scale)
            scope.digitize(ch, timeout_s=timeout_s)
            vmin, vmax = scope.measure("VMIN", source), scope.measure("VMAX", source)
            edge = SCREEN_HALF_DIV * scale * 0.98
            if math.isfinite(vmin) and math.isfinite(vmax) and vmin > offset_v - edge and vmax < offset_v + edge:
                break
        if not (math.isfinite(vmin) and math.isfinite(vmax)):
            return offset_v, scope.channel(ch).scale_v, None
        level = self._trigger_level(vmin, vmax) if p.trigger == "load-step" else None
        if level is not None:
            scope.trigger_on_rail(ch, level)
            scope.digitize(ch, timeout_s=timeout_s)
            tmin, tmax = scope.measure("VMIN", source), scope.measure("VMAX", source)
            if math.isfinite(tmin) and math.isfinite(tmax):
                vmin, vmax = min(vmin, tmin), max(vmax, tmax)
        offset = 0.5 * (vmin + vmax)
        scale = nice_scale_v((vmax - vmin) / FIT_DIVISIONS)
        scope.set_vertical(ch, offset_v=offset, scale_v=scale)
        return offset, scale, level

    # ------------------------------------------------------------ analyze
    def analyze(self, captures: dict[str, Capture], p: RailNoiseParams) -> Analysis:
        capture = captures["rail"]
        clipped = capture.clipped_count()
        offset = capture.settings.get(f"channel{p.channel}.offset_v")
        scale = capture.settings.get(f"channel{p.channel}.scale_v")
        if clipped:
            screen = (f" (offset {offset:g} V, {scale:g} V/div shows {offset - 4 * scale:g} to "
                      f"{offset + 4 * scale:g} V)") if isinstance(offset, float) and isinstance(scale, float) else ""
            raise AnalysisError(
                f"capture 'rail' is clipped: {clipped} of {capture.n} samples at the ADC limits{screen}; the rail "
                "is off screen and cannot be measured: leave scale_v unset (autorange) or widen it")
        limits_v = tuple(float((code - capture.y_reference) * capture.y_increment + capture.y_origin)
                         for code in (capture.clip_low, capture.clip_high)) if capture.clip_low is not None else None
        nominal = float(capture.attrs.get("nominal_v") or p.nominal_v)
        rail = analyze_rail(capture.values(), capture.dx, nominal_v=nominal, tolerance_pct=p.tolerance_pct,
                            bandwidth_hz=p.bandwidth_hz, adc_limits_v=limits_v, on_clip="raise",
                            switching_band_hz=SWITCHING_BAND_HZ)
        # the tolerance window the parameters state is judged too (with the limits file's, the tighter wins)
        own_bounds = {"worst_deviation_pct": (None, p.tolerance_pct),
                      "rail_dc_v": (nominal * (1 - p.tolerance_pct / 100), nominal * (1 + p.tolerance_pct / 100))}
        metrics = [replace(self.metric(name, value), low=own_bounds.get(name, (None, None))[0],
                           high=own_bounds.get(name, (None, None))[1])
                   for name, value in rail.metric_values().items()]
        spectrum = rail.spectrum
        results = {
            "spectrum": {"freq_hz": spectrum.freq_hz, "psd_v2_hz": spectrum.density,
                         "resolution_hz": np.float64(spectrum.resolution_hz), "segments": np.int64(spectrum.segments)},
            "spurs": {"freq_hz": np.array([s.freq_hz for s in rail.spurs]),
                      "rms_v": np.array([s.rms for s in rail.spurs]),
                      "level_dbv": np.array([s.level_db for s in rail.spurs]),
                      "prominence_db": np.array([s.prominence_db for s in rail.spurs])},
            "rail": {"nominal_v": np.float64(rail.nominal_v), "tolerance_pct": np.float64(rail.tolerance_pct),
                     "bandwidth_hz": np.float64(rail.bandwidth_hz),
                     "deviation_min_pct": np.float64(rail.deviation_min_pct),
                     "deviation_max_pct": np.float64(rail.deviation_max_pct),
                     "within_tolerance": np.bool_(rail.within_tolerance), "n_samples": np.int64(rail.n_samples),
                     "missing_samples": np.int64(rail.missing_samples)},
            "envelope": envelope(capture, ENVELOPE_BINS),
        }
        scope = capture.attrs.get("scope_measurements")
        if scope:
            results["scope_measurements"] = {k: np.float64(np.nan if v is None else v) for k, v in scope.items()}
        if "fft" in captures:
            results["scope_fft"] = fft_peak(captures["fft"], SWITCHING_BAND_HZ[0])
        return Analysis(metrics, results)

    # ------------------------------------------------------------ figures
    def figures(self, step) -> list[tuple[str, object]]:
        """The rail against its tolerance window (min/max envelope) and its noise density with spurs,
        from the step's stored results."""
        from matplotlib.figure import Figure

        out = []
        env, rail = step.results.get("envelope"), step.results.get("rail", {})
        if env is not None:
            fig = Figure(figsize=(6.4, 4.0), layout="constrained")
            ax = fig.subplots()
            t_ms = np.asarray(env["time_s"]) * 1e3
            ax.fill_between(t_ms, env["min_v"], env["max_v"], step="mid", linewidth=0.5, label="rail (min/max)")
            if "nominal_v" in rail:
                nominal, tol = float(rail["nominal_v"]), float(rail.get("tolerance_pct", 3.0))
                for level in (nominal * (1 - tol / 100), nominal * (1 + tol / 100)):
                    ax.axhline(level, color="tab:red", linestyle="--", linewidth=0.8)
                ax.axhline(nominal, color="gray", linewidth=0.6)
            ax.set_xlabel("time from trigger (ms)")
            ax.set_ylabel("rail (V)")
            ax.set_title("Rail voltage and tolerance window")
            ax.grid(True, alpha=0.3)
            out.append(("Rail voltage", fig))
        spectrum = step.results.get("spectrum")
        if spectrum is not None:
            from labbench import plots

            fig = Figure(figsize=(6.4, 4.0), layout="constrained")
            ax = fig.subplots()
            spurs = step.results.get("spurs", {}).get("freq_hz")
            plots.plot_rail_psd(spectrum["freq_hz"], spectrum["psd_v2_hz"], ax=ax,
                                spurs_hz=None if spurs is None else np.atleast_1d(spurs))
            out.append(("Rail noise PSD", fig))
        return out


def envelope(capture: Capture, bins: int) -> dict[str, np.ndarray]:
    """Min and max of the rail in `bins` equal slices of the record (for plots without the capture)."""
    v = capture.values()
    bins = max(1, min(bins, v.size))
    edges = np.linspace(0, v.size, bins + 1).astype(np.int64)
    lo = np.fmin.reduceat(v, edges[:-1])      # fmin/fmax skip holes (NaN) unless a slice is all holes
    hi = np.fmax.reduceat(v, edges[:-1])
    centres = capture.x0 + 0.5 * (edges[:-1] + edges[1:]) * capture.dx
    return {"time_s": centres, "min_v": lo, "max_v": hi}


def fft_peak(fft: Capture, f_min_hz: float) -> dict[str, np.float64]:
    """The scope FFT's strongest line above f_min_hz: frequency and level in dBV (dBuV - 120)."""
    db = fft.values()
    f = fft.x()
    sel = (f >= f_min_hz) & np.isfinite(db)
    if not np.any(sel):
        return {"peak_freq_hz": np.float64(np.nan), "peak_level_dbv": np.float64(np.nan),
                "resolution_hz": np.float64(fft.dx)}
    k = int(np.flatnonzero(sel)[np.argmax(db[sel])])
    to_dbv = -120.0 if fft.y_unit == "dBuV" else (-13.0103 if fft.y_unit == "dBm" else 0.0)
    return {"peak_freq_hz": np.float64(f[k]), "peak_level_dbv": np.float64(db[k] + to_dbv),
            "resolution_hz": np.float64(fft.dx)}
