"""eye-jitter: eye diagram, jitter decomposition, rise/fall times and bit rate of a serial link."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labbench.analysis.clock import recover_clock
from labbench.analysis.edges import Levels, find_edges
from labbench.analysis.eye import eye_diagram, transition_times
from labbench.analysis.jitter import jitter_metrics
from labbench.capture import Capture
from labbench.errors import AnalysisError
from labbench.instruments.keysight.dsaz334a import DSAZ334A
from labbench.procedure import Analysis, Procedure, choices

MAX_CLIPPED_FRACTION = 1e-3


@dataclass(frozen=True)
class EyeJitterParams:
    nominal_rate_bps: float | None = None   # None: the DUT's (profile, or station [dut] serial_rate_bps)
    ber: float = 1e-12
    channel: int = 1
    points: int | None = None               # record length; None: the DUT profile's or 1 Mpts
    expected_amplitude_v: float | None = None   # sets the vertical scale; None: the DUT profile's or 0.4 V
    clock_recovery: str = choices("constant", "pll", default="constant")
    loop_bandwidth_hz: float | None = None  # PLL only; None: rate / 1667
    cross_check: bool = True                # also read the scope's own measurements

    def __post_init__(self):
        if not 1e-18 <= self.ber <= 1e-2:
            raise ValueError(f"ber={self.ber}: use 1e-18 to 1e-2")
        if self.nominal_rate_bps is not None and not 1.0 <= self.nominal_rate_bps <= 100e9:
            raise ValueError(f"nominal_rate_bps={self.nominal_rate_bps}: use 1 b/s to 100 Gb/s")
        if self.points is not None and not 16 <= self.points <= 2_000_000_000:
            raise ValueError(f"points={self.points}: use 16 to 2e9")
        if self.expected_amplitude_v is not None and not 0.005 <= self.expected_amplitude_v <= 8.0:
            raise ValueError(f"expected_amplitude_v={self.expected_amplitude_v}: use 0.005 to 8 V")
        if self.loop_bandwidth_hz is not None and self.loop_bandwidth_hz <= 0:
            raise ValueError(f"loop_bandwidth_hz={self.loop_bandwidth_hz}: must be positive")
        if not 1 <= self.channel <= 4:
            raise ValueError(f"channel={self.channel}: use 1 to 4")


class EyeJitter(Procedure):
    name = "eye-jitter"
    description = "Eye and jitter of the DUT's serial link on the DSAZ334A"
    roles = {"scope": DSAZ334A}
    Params = EyeJitterParams
    metrics = {
        "bit_rate_bps": "b/s", "bit_rate_deviation_ppm": "ppm", "ui_s": "s", "eye_height_v": "V",
        "eye_width_s": "s", "eye_width_ui": "UI", "tie_rms_s": "s", "tie_pp_s": "s",
        "period_jitter_rms_s": "s", "c2c_jitter_rms_s": "s", "rj_rms_s": "s", "dj_dd_s": "s", "tj_s": "s",
        "dcd_s": "s", "rise_time_s": "s", "fall_time_s": "s",
    }

    def acquire(self, bench, p: EyeJitterParams):
        scope: DSAZ334A = bench.scope
        nominal = p.nominal_rate_bps
        if nominal is None and bench.replay is None:
            # the DUT's rate: from the simulated DUT, or from the station file's [dut] serial_rate_bps
            if bench.profile is not None:
                nominal = float(bench.profile.section("serial").get("rate_bps", 0)) or None
            else:
                nominal = float(bench.dut.get("serial_rate_bps", 0)) or None
        if bench.replay is None:
            serial = bench.profile.section("serial") if bench.profile else {}
            points = p.points or int(serial.get("points", 1_000_000))
            amplitude = p.expected_amplitude_v or float(serial.get("amplitude_v", 0.4))
            scope.setup_serial_capture(p.channel, amplitude_v=amplitude,
                                       rate_bps=nominal or 10e9, points=points)
        capture = scope.acquire(p.channel)
        capture.name = "data"
        capture.attrs["nominal_rate_bps"] = nominal
        if p.cross_check:
            source = f"CHANnel{p.channel}"
            capture.attrs["scope_measurements"] = {
                "rise_time_10_90_s": scope.rise_time_s(source), "fall_time_10_90_s": scope.fall_time_s(source),
                "vpp_v": scope.vpp_v(source), "frequency_hz": scope.frequency_hz(source),
                "data_rate_bps": scope.data_rate_bps(source), "eye_height_v": scope.eye_height_v(),
                "eye_width_s": scope.eye_width_s(), **scope.rjdj(source, p.ber),
            }
        capture.settings.update(scope.settings())
        yield "data", capture

    def analyze(self, captures: dict[str, Capture], p: EyeJitterParams) -> Analysis:
        capture = captures["data"]
        clipped = capture.clipped_count()
        if clipped > MAX_CLIPPED_FRACTION * capture.n:
            raise AnalysisError(f"capture '{capture.name}' is clipped ({clipped} of {capture.n} samples at the ADC "
                                "limits): increase the channel scale")
        values = capture.values()
        nominal = p.nominal_rate_bps or capture.attrs.get("nominal_rate_bps")
        edges = find_edges(values, capture.x0, capture.dx)
        clock = recover_clock(edges.times_s, nominal, p.clock_recovery, p.loop_bandwidth_hz)
        jitter = jitter_metrics(edges, clock, p.ber)
        eye = eye_diagram(values, capture.x0, capture.dx, clock, edges, jitter.tie_rms_s)
        transitions = transition_times(values, capture.x0, capture.dx, edges,
                                       Levels(eye.one_mean_v, eye.zero_mean_v), clock.ui_s)
        deviation = (clock.rate_bps / nominal - 1.0) * 1e6 if nominal else float("nan")
        notes = [] if nominal else [
            "no nominal rate is known, so bit_rate_deviation_ppm is not a number: give --set nominal_rate_bps=... "
            "(or serial_rate_bps in the station file's [dut] table)"]
        m = self.metric
        metrics = [
            m("bit_rate_bps", clock.rate_bps), m("bit_rate_deviation_ppm", deviation), m("ui_s", clock.ui_s),
            m("eye_height_v", eye.eye_height_v), m("eye_width_s", eye.eye_width_s),
            m("eye_width_ui", eye.eye_width_ui), m("tie_rms_s", jitter.tie_rms_s), m("tie_pp_s", jitter.tie_pp_s),
            m("period_jitter_rms_s", jitter.period_jitter_rms_s), m("c2c_jitter_rms_s", jitter.c2c_jitter_rms_s),
            m("rj_rms_s", jitter.rj_rms_s), m("dj_dd_s", jitter.dj_dd_s), m("tj_s", jitter.tj_s),
            m("dcd_s", jitter.dcd_s), m("rise_time_s", transitions.rise_20_80_s),
            m("fall_time_s", transitions.fall_20_80_s),
        ]
        results = {
            "eye": {"histogram": eye.histogram, "time_edges_ui": eye.time_edges_ui,
                    "voltage_edges_v": eye.voltage_edges_v, "outside_samples": np.int64(eye.outside)},
            "jitter": {"tie_s": jitter.tie_s, "edge_times_s": edges.times_s, "rising": edges.rising,
                       "pj_frequency_hz": np.array([t.frequency_hz for t in jitter.pj_tones]),
                       "pj_amplitude_pp_s": np.array([t.amplitude_pp_s for t in jitter.pj_tones]),
                       "ddj_pp_s": np.float64(jitter.ddj_pp_s), "rj_residual_s": jitter.residual_s},
            "transitions": {"rise_10_90_s": np.float64(transitions.rise_10_90_s),
                            "fall_10_90_s": np.float64(transitions.fall_10_90_s),
                            "edges_used": np.int64(transitions.edges_used)},
            "clock": {"method": clock.method, "bursts": np.int64(clock.n_bursts),
                      "levels_v": np.array([eye.zero_mean_v, eye.one_mean_v]), "ui_s": np.float64(clock.ui_s)},
        }
        scope = capture.attrs.get("scope_measurements")
        if scope:
            results["scope_measurements"] = {k: np.float64(v if v is not None else np.nan) for k, v in scope.items()}
        return Analysis(metrics, results, notes)

    def figures(self, step) -> list[tuple[str, object]]:
        """Eye diagram, bathtub (DJ per edge convolved with the measured RJ), TIE histogram and TIE spectrum,
        all from the step's stored results (no capture is read)."""
        from matplotlib.figure import Figure

        from labbench import plots

        def figure():
            fig = Figure(figsize=(6.4, 4.0), layout="constrained")
            return fig, fig.subplots()

        out = []
        eye, jitter = step.results.get("eye"), step.results.get("jitter")
        if eye is not None:
            fig, ax = figure()
            plots.plot_eye(eye["histogram"], eye["time_edges_ui"], eye["voltage_edges_v"], ax=ax)
            out.append(("Eye diagram", fig))
        if jitter is None:
            return out
        tie = np.asarray(jitter["tie_s"], dtype=np.float64)
        residual = np.asarray(jitter.get("rj_residual_s", tie), dtype=np.float64)
        rj_s = float(np.std(residual))
        ui_s = step.results.get("clock", {}).get("ui_s")
        if ui_s is None:
            ui_s = next((m.value for m in step.metrics if m.name == "ui_s"), None)
        ber = float(step.parameters.get("ber") or 1e-12)
        if ui_s:
            fig, ax = figure()
            plots.plot_bathtub(tie - residual, float(ui_s), ax=ax, rj_rms_s=rj_s, ber=ber)
            out.append(("Bathtub", fig))
        fig, ax = figure()
        plots.plot_jitter_histogram(tie, ax=ax, rj_rms_s=rj_s)
        out.append(("TIE histogram", fig))
        if tie.size >= 8:
            fig, ax = figure()
            plots.plot_jitter_spectrum(tie, jitter.get("edge_times_s"), ax=ax, ui_s=float(ui_s) if ui_s else None,
                                       tones_hz=jitter.get("pj_frequency_hz"), tones_pp_s=jitter.get("pj_amplitude_pp_s"))
            out.append(("TIE spectrum", fig))
        return out
