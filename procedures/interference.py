"""interference: what else is on the 2.4 GHz air around the DUT (standards.md §4), on the N9030B.

Survey: ``sweeps`` back-to-back swept traces over 2390-2500 MHz (channels 1-13 with their edges, BLE 37-39),
300 kHz RBW, 2 ms each, stored as one 2-D capture (rows = sweeps in time, each row placed at its sweep's
start on the analyzer's clock). A 2 ms row resolves a microwave oven's mains-rate on/off (10 ms halves at
50 Hz) and catches Wi-Fi and BLE bursts (on a real N9030B sweeps this fast over 110 MHz want FFT mode).
VBW = RBW/10 averaged in power (`:AVERage:TYPE RMS`), sample detector: each reading averages ten looks, so
the cells of a noise-like burst (OFDM, GFSK through the RBW: Rayleigh) do not fade below the threshold
and cut it into pieces; the mean power is unchanged. The survey is of the air: the DUT is
meant to be listening (the simulated DUT, `[radio] transmit = "when-tuned"`, transmits only while the
analyzer is tuned to its channel, so it listens through a survey of the band); when it does transmit in
the survey it shows as a Wi-Fi emitter on its channel at its own level, counted in the occupancy (air
time is air time) but never as an interferer.

DUT signal: a separate 40 MHz sweep around the DUT's channel (100 kHz RBW, RMS-averaged over
``signal_sweeps``) gives its channel power over 20 MHz, the S of the SIR, at the analyzer input like the
interference.

Analysis (labbench.analysis.interference): cells 15 dB over the noise floor are occupied; per channel
1-13 the percentage of sweeps with any occupied cell in its 20 MHz (``occupancy_pct_ch<n>``); the best
channel (least occupied, then quietest, 1/6/11 preferred); the emitters, each classified as Wi-Fi, BLE,
microwave oven or unknown (results/emitters); the strongest emitter power within the DUT's channel
(``interferer_power_dbm``; when nothing reaches it, the noise floor integrated over the channel, the level
below which nothing is seen) and ``sir_db`` = DUT channel power - that.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from labbench.analysis.interference import (
    Spectrogram, best_channel, channel_interference, channel_occupancy, detect_emitters, noise_floor_dbm,
    wifi24_center_hz,
)
from labbench.analysis.spectrum import GAUSSIAN_RBW_ENBW_RATIO, SpectrumTrace, channel_power
from labbench.capture import Capture
from labbench.errors import AnalysisError
from labbench.instruments.keysight.n9030b import N9030B
from labbench.procedure import Analysis, Procedure

CHANNELS = tuple(range(1, 14))
DUT_LEVEL_TOLERANCE_DB = 6.0      # a Wi-Fi emitter on the DUT's channel this close to its power is the DUT


@dataclass(frozen=True)
class InterferenceParams:
    channel: int | None = None          # the DUT's 2.4 GHz Wi-Fi channel; None: the DUT profile's (simulated) or 6
    start_hz: float = 2390e6
    stop_hz: float = 2500e6
    points: int = 1101                  # 100 kHz apart
    rbw_hz: float = 300e3
    sweep_time_s: float = 2e-3
    sweeps: int = 1000                  # 2 s of air
    video_looks: int = 10               # VBW = RBW / video_looks, power-averaged (see the module docstring)
    attenuation_db: float = 0.0
    threshold_db: float = 15.0          # occupied: this far over the noise floor
    signal_dbm: float | None = None     # the wanted signal at the analyzer; None: the DUT's measured channel power
    signal_sweeps: int = 10

    def __post_init__(self):
        if self.channel is not None and self.channel not in CHANNELS:
            raise ValueError(f"channel={self.channel}: the survey covers 2.4 GHz Wi-Fi channels 1-13")
        if not (self.start_hz <= 2402e6 - 1e6 and self.stop_hz >= 2482e6):
            raise ValueError("start_hz/stop_hz must cover channels 1-13 (2402-2482 MHz)")
        if not 1 <= self.video_looks <= 1000:
            raise ValueError(f"video_looks={self.video_looks}: use 1 to 1000 (VBW = RBW / video_looks)")
        if self.points < 101 or self.sweeps < 10 or not self.sweep_time_s > 0:
            raise ValueError("points >= 101, sweeps >= 10 and sweep_time_s > 0")


class Interference(Procedure):
    name = "interference"
    description = "2.4 GHz survey on the N9030B: channel occupancy, best channel, emitters, interferer and SIR"
    roles = {"analyzer": N9030B}
    Params = InterferenceParams
    metrics = {**{f"occupancy_pct_ch{n}": "%" for n in CHANNELS}, "best_channel": "",
               "interferer_power_dbm": "dBm", "sir_db": "dB"}

    def acquire(self, bench, p: InterferenceParams):
        sa: N9030B = bench.analyzer
        channel = p.channel
        if channel is None:
            radio = bench.profile.section("radio") if getattr(bench, "profile", None) is not None else {}
            channel = int(radio.get("channel", 6))
        center = 0.5 * (p.start_hz + p.stop_hz)
        sa.configure_spectrum(center, p.stop_hz - p.start_hz, rbw_hz=p.rbw_hz, vbw_hz=p.rbw_hz / p.video_looks,
                              points=p.points, sweep_time_s=p.sweep_time_s, detector="SAMPle", average_type="RMS",
                              trace_type="WRITe", attenuation_db=p.attenuation_db)
        rows, starts = [], []
        first = None
        for _ in range(p.sweeps):
            cap = sa.sweep(name="spectrogram")
            first = first or cap
            rows.append(cap.data)
            starts.append(float(cap.attrs["sweep_start_s"]))
        t0 = starts[0]
        survey = Capture(name="spectrogram", data=np.stack(rows), x0=first.x0, dx=first.dx, x_unit="Hz",
                         y_unit="dBm", instrument=first.instrument, settings={**first.settings, **sa.settings()},
                         attrs={"time_s": [s - t0 for s in starts], "sweep_start_s": t0, "rows": "time",
                                "dut_channel": channel})
        yield "spectrogram", survey

        dut_center = wifi24_center_hz(channel)
        sa.configure_spectrum(dut_center, 40e6, rbw_hz=100e3, vbw_hz=300e3, points=801, detector="AVERage",
                              average_type="RMS", trace_type="AVERage", average_count=p.signal_sweeps)
        signal = sa.sweep(name="dut_channel")
        signal.settings.update(sa.settings())
        signal.attrs.update({"dut_channel": channel, "dut_center_hz": dut_center})
        yield "dut_channel", signal

    def analyze(self, captures: dict[str, Capture], p: InterferenceParams) -> Analysis:
        cap = captures["spectrogram"]
        if cap.data.ndim != 2:
            raise AnalysisError(f"capture '{cap.name}' is {cap.data.ndim}-D: the survey is a 2-D spectrogram "
                                "(rows = sweeps)")
        rbw = float(cap.settings.get("rbw_hz") or p.rbw_hz)
        sg = Spectrogram(np.asarray(cap.attrs["time_s"], dtype=float), freq_axis_hz(cap),
                         cap.values().reshape(cap.data.shape), enbw_hz=GAUSSIAN_RBW_ENBW_RATIO * rbw)
        channel = int(cap.attrs.get("dut_channel") or p.channel or 6)
        fc = wifi24_center_hz(channel)
        signal = p.signal_dbm if p.signal_dbm is not None else dut_channel_power_dbm(captures.get("dut_channel"), fc)
        occupancy = channel_occupancy(sg, CHANNELS, threshold_db_above_floor=p.threshold_db)
        best = best_channel(occupancy)
        # a real emitter is at least an RBW wide in the trace: narrower regions are a burst's edge cells
        # crossing the threshold on their own
        emitters = tuple(e for e in detect_emitters(sg, threshold_db_above_floor=p.threshold_db)
                         if e.bandwidth_hz >= 0.9 * rbw)
        dut = tuple(e for e in emitters if e.kind == "wifi" and e.channel == channel
                    and abs(e.power_dbm - signal) <= DUT_LEVEL_TOLERANCE_DB)
        hit = channel_interference(emitters, channel, signal_dbm=signal, exclude=dut)
        floor = noise_floor_dbm(sg)
        channel_noise_dbm = floor + 10 * math.log10(20e6 / sg.noise_bandwidth_hz)
        interferer = hit.interferer_power_dbm if math.isfinite(hit.interferer_power_dbm) else channel_noise_dbm
        m = self.metric
        metrics = [m(f"occupancy_pct_ch{o.channel}", o.occupancy_pct) for o in occupancy]
        metrics += [m("best_channel", best), m("interferer_power_dbm", interferer), m("sir_db", signal - interferer)]
        results = {
            "emitters": emitter_table(emitters, dut),
            "occupancy": {"channel": np.array([o.channel for o in occupancy]),
                          "center_hz": np.array([o.center_hz for o in occupancy]),
                          "occupancy_pct": np.array([o.occupancy_pct for o in occupancy]),
                          "mean_power_dbm": np.array([o.mean_power_dbm for o in occupancy]),
                          "busy_power_dbm": np.array([o.busy_power_dbm for o in occupancy])},
            "dut": {"channel": np.int64(channel), "center_hz": np.float64(fc), "signal_dbm": np.float64(signal),
                    "seen_in_survey": np.int64(len(dut))},
            "interferer": {"kind": hit.interferer_kind or "none (channel noise)",
                           "center_hz": np.float64(hit.interferer_center_hz),
                           "channel_noise_dbm": np.float64(channel_noise_dbm)},
            "noise_floor_dbm": np.float64(floor),
            "spectrum": {"freq_hz": sg.freq_hz, "max_dbm": np.max(sg.power_dbm, axis=0),
                         "mean_dbm": 10 * np.log10(np.mean(10 ** (np.asarray(sg.power_dbm, float) / 10), axis=0))},
        }
        return Analysis(metrics, results)

    def figures(self, step) -> list[tuple[str, object]]:
        """The spectrogram (from the stored capture) and the survey's max-hold and mean spectra."""
        from matplotlib.figure import Figure

        from labbench import plots

        out = []
        try:
            cap = step.capture("spectrogram")
        except Exception:
            cap = None
        if cap is not None:
            fig = Figure(figsize=(8.0, 4.5), layout="constrained")
            plots.plot_spectrogram(np.asarray(cap.attrs["time_s"], float), freq_axis_hz(cap),
                                   cap.values().reshape(cap.data.shape), ax=fig.subplots(),
                                   title="2.4 GHz survey: spectrogram")
            out.append(("Spectrogram", fig))
        spectrum = step.results.get("spectrum")
        if spectrum is not None:
            fig = Figure(figsize=(8.0, 4.0), layout="constrained")
            ax = fig.subplots()
            plots.plot_spectrum(spectrum["freq_hz"], spectrum["max_dbm"], ax=ax, label="max hold",
                                title="2.4 GHz survey: spectrum")
            plots.plot_spectrum(spectrum["freq_hz"], spectrum["mean_dbm"], ax=ax, label="mean",
                                title="2.4 GHz survey: spectrum")
            out.append(("Survey spectrum", fig))
        return out


def freq_axis_hz(cap: Capture) -> np.ndarray:
    """The frequency axis of a 2-D spectrogram capture (its columns; Capture.x() counts rows)."""
    return cap.x0 + np.arange(cap.data.shape[-1], dtype=np.float64) * cap.dx


def dut_channel_power_dbm(cap: Capture | None, center_hz: float) -> float:
    """The DUT's channel power over 20 MHz from its own RMS-averaged sweep (labbench.analysis.spectrum)."""
    if cap is None:
        raise AnalysisError("interference: no 'dut_channel' capture and no signal_dbm parameter: the SIR needs "
                            "the DUT's signal level")
    rbw = cap.settings.get("rbw_hz")
    if not rbw:
        raise AnalysisError(f"capture '{cap.name}' does not say its RBW (settings rbw_hz)")
    trace = SpectrumTrace.from_dbm(cap.x(), cap.values(), rbw_hz=float(rbw))
    return channel_power(trace, center_hz, 20e6).power_dbm


def emitter_table(emitters, dut) -> dict:
    """The emitters found, one row each, strongest first; ``kind`` "dut" marks the DUT's own."""
    is_dut = [any(e is d for d in dut) for e in emitters]
    return {
        "kind": np.array(["dut" if d else e.kind for e, d in zip(emitters, is_dut)], dtype=str),
        "channel": np.array([e.channel if e.channel is not None else -1 for e in emitters], dtype=np.int64),
        "center_hz": np.array([e.center_hz for e in emitters]),
        "bandwidth_hz": np.array([e.bandwidth_hz for e in emitters]),
        "f_low_hz": np.array([e.f_low_hz for e in emitters]),
        "f_high_hz": np.array([e.f_high_hz for e in emitters]),
        "power_dbm": np.array([e.power_dbm for e in emitters]),
        "peak_dbm": np.array([e.peak_dbm for e in emitters]),
        "duty_cycle": np.array([e.duty_cycle for e in emitters]),
        "bursts": np.array([e.bursts for e in emitters], dtype=np.int64),
        "period_s": np.array([e.period_s for e in emitters]),
        "mains_hz": np.array([e.mains_hz for e in emitters]),
    }
