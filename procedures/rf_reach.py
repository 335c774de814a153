"""rf-reach: the DUT's 802.11 OFDM transmitter on the N9030B (channel power, 99 % OBW, transmit mask,
ACPR) and how far that power reaches (EIRP, link budget, range) under a path-loss model.

Spectrum: one swept trace over +-40 MHz with the 802.11 mask measurement's 100 kHz RBW, RMS-average
detector and RMS trace averaging (the detector and averaging labbench.analysis.spectrum needs for band
power), points every RBW/2. The reference-level offset is set to the loss between the DUT and the
analyzer, so every reading is at the DUT's antenna port. Analysis (standards.md §4): channel power and
ACPR over 20 MHz channels at +-20 MHz, 99 % OBW within +-20 MHz, worst margin to the 802.11 OFDM 20 MHz
mask (negative is a violation); EIRP = P + G_tx; link budget = P + G_tx + G_rx - sensitivity; range
where the model's loss uses up the budget less the margin.

With cross_check, the analyzer's own channel power, OBW and ACP over the same bands are stored beside
labbench's (results/analyzer, results/agreement).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labbench.analysis.linkbudget import link_budget, path_loss_model
from labbench.analysis.spectrum import SpectrumTrace, acpr, channel_power, mask_margin, occupied_bandwidth
from labbench.capture import Capture
from labbench.errors import AnalysisError
from labbench.instruments.keysight.n9030b import N9030B
from labbench.limits import Metric
from labbench.procedure import Analysis, Procedure, choices
from labbench.procedures._rf_dut import dut_center_hz, dut_input_loss_db

REFERENCE_HEADROOM_DB = 10.0      # reference level this far above the expected channel power


@dataclass(frozen=True)
class RfReachParams:
    channel: int | None = None             # 2.4 GHz Wi-Fi channel; None: the DUT profile's (simulated bench) or 6
    center_hz: float | None = None         # overrides channel
    input_loss_db: float | None = None     # DUT port to analyzer input; None: the profile's path loss (simulated) or 0
    expected_power_dbm: float = 16.0       # sets the reference level (and so the attenuation)
    span_hz: float = 80e6
    rbw_hz: float = 100e3                  # the 802.11 transmit-mask measurement's RBW
    points: int = 1601                     # 50 kHz apart: RBW / 2
    average_count: int = 10                # RMS trace averaging
    channel_bandwidth_hz: float = 20e6     # channel power and the ACPR main channel
    acpr_offset_hz: float = 20e6
    acpr_bandwidth_hz: float = 20e6
    obw_span_hz: float = 40e6              # OBW: total power taken within +-20 MHz
    obw_percent: float = 99.0
    tx_antenna_gain_dbi: float = 2.0
    rx_antenna_gain_dbi: float = 0.0
    sensitivity_dbm: float = -82.0         # 802.11a/g at 6 Mb/s (standards.md §4)
    margin_db: float = 10.0                # fade margin kept in reserve for the range
    path_loss_model: str = choices("free-space", "log-distance", "itu-p1238", default="log-distance")
    path_loss_exponent: float = 3.0        # log-distance only
    floors: int = 0                        # itu-p1238 (office) only: floors between the two ends
    required_range_m: float | None = None  # the reach the product needs: the link margin there goes into the
                                           # results, and range_m carries it as its low limit (the limits
                                           # file's range_m entry, when there is one, is what is judged)
    cross_check: bool = True               # also read the analyzer's own CHP, OBW and ACP

    def __post_init__(self):
        if self.channel is not None and not 1 <= self.channel <= 14:
            raise ValueError(f"channel={self.channel}: 2.4 GHz Wi-Fi channels are 1-14")
        if not 0 < self.obw_percent < 100:
            raise ValueError(f"obw_percent={self.obw_percent}: must be between 0 and 100")
        if self.points < 101 or self.span_hz / (self.points - 1) > self.rbw_hz:
            raise ValueError(f"points={self.points}: the trace needs a point at least every RBW "
                             f"({self.rbw_hz:g} Hz) over the {self.span_hz:g} Hz span")
        if self.span_hz < 2 * (self.acpr_offset_hz + self.acpr_bandwidth_hz / 2) or self.span_hz < 60e6:
            raise ValueError(f"span_hz={self.span_hz:g}: must cover the ACPR channels and the mask to +-30 MHz")
        if self.required_range_m is not None and not self.required_range_m > 0:
            raise ValueError(f"required_range_m={self.required_range_m}: must be positive")
        if self.average_count < 1:
            raise ValueError(f"average_count={self.average_count}: at least 1")


class RfReach(Procedure):
    name = "rf-reach"
    description = "802.11 OFDM transmitter on the N9030B: channel power, OBW, mask, ACPR, EIRP, link budget, range"
    roles = {"analyzer": N9030B}
    Params = RfReachParams
    metrics = {"channel_power_dbm": "dBm", "obw_hz": "Hz", "mask_margin_db": "dB", "acpr_lower_dbc": "dBc",
               "acpr_upper_dbc": "dBc", "eirp_dbm": "dBm", "link_budget_db": "dB", "range_m": "m"}

    def acquire(self, bench, p: RfReachParams):
        sa: N9030B = bench.analyzer
        center = dut_center_hz(bench, p.channel, p.center_hz)
        loss = dut_input_loss_db(bench, p.input_loss_db)
        sa.configure_spectrum(center, p.span_hz, rbw_hz=p.rbw_hz, vbw_hz=3.0 * p.rbw_hz, points=p.points,
                              detector="AVERage", average_type="RMS", trace_type="AVERage",
                              average_count=p.average_count, reference_offset_db=loss,
                              reference_level_dbm=p.expected_power_dbm + REFERENCE_HEADROOM_DB)
        capture = sa.sweep(name="spectrum")
        capture.settings.update(sa.settings())
        capture.attrs.update({"center_hz": center, "input_loss_db": loss})
        if p.cross_check:
            half_obw = p.obw_span_hz / 2
            chp = sa.channel_power(center, p.channel_bandwidth_hz, span_hz=1.5 * p.channel_bandwidth_hz,
                                   rbw_hz=p.rbw_hz)
            obw = sa.occupied_bandwidth(center, 2 * half_obw, percent=p.obw_percent, rbw_hz=p.rbw_hz)
            acp = sa.acp(center, p.channel_bandwidth_hz, [p.acpr_offset_hz], p.acpr_bandwidth_hz, rbw_hz=p.rbw_hz)
            sa.back_to_spectrum()
            capture.attrs["analyzer_measurements"] = {
                "channel_power_dbm": chp.power_dbm, "channel_psd_dbm_hz": chp.psd_dbm_hz,
                "obw_hz": obw.obw_hz, "obw_total_power_dbm": obw.total_power_dbm,
                "obw_freq_error_hz": obw.freq_error_hz, "xdb_bandwidth_hz": obw.xdb_bandwidth_hz,
                "acp_carrier_dbm": acp.carrier_power_dbm, "acpr_lower_dbc": acp.lower_dbc[0],
                "acpr_upper_dbc": acp.upper_dbc[0],
            }
        yield "spectrum", capture

    def analyze(self, captures: dict[str, Capture], p: RfReachParams) -> Analysis:
        cap = captures["spectrum"]
        rbw = cap.settings.get("rbw_hz")
        if not rbw:
            raise AnalysisError(f"capture '{cap.name}' does not say its RBW (settings rbw_hz): cannot convert "
                                "readings to power density")
        detector = str(cap.settings.get("detector", "")).upper()
        if detector.startswith(("POS", "NEG", "NORM")):
            raise AnalysisError(f"capture '{cap.name}' was taken with the {detector} detector: band power needs "
                                "an RMS-average or sample detector")
        center = float(cap.attrs.get("center_hz") or cap.settings.get("center_hz"))
        trace = SpectrumTrace.from_dbm(cap.x(), cap.values(), rbw_hz=float(rbw))
        chp = channel_power(trace, center, p.channel_bandwidth_hz)
        obw = occupied_bandwidth(trace, p.obw_percent, f_lo_hz=center - p.obw_span_hz / 2,
                                 f_hi_hz=center + p.obw_span_hz / 2)
        mask = mask_margin(trace, center)
        adjacent = acpr(trace, center, p.channel_bandwidth_hz, p.acpr_offset_hz, p.acpr_bandwidth_hz)
        model = path_loss_model(p.path_loss_model, path_loss_exponent=p.path_loss_exponent, floors=p.floors)
        link = link_budget(chp.power_dbm, p.sensitivity_dbm, center, model, tx_antenna_gain_dbi=p.tx_antenna_gain_dbi,
                           rx_antenna_gain_dbi=p.rx_antenna_gain_dbi, margin_db=p.margin_db,
                           distance_m=p.required_range_m)
        m = self.metric
        range_metric = m("range_m", link.range_m)
        if p.required_range_m is not None:      # carried on the metric; labbench.limits.judge applies the file's
            range_metric = Metric(range_metric.name, range_metric.value, range_metric.unit, low=p.required_range_m)
        metrics = [
            m("channel_power_dbm", chp.power_dbm), m("obw_hz", obw.obw_hz), m("mask_margin_db", mask.margin_db),
            m("acpr_lower_dbc", adjacent.lower_dbc), m("acpr_upper_dbc", adjacent.upper_dbc),
            m("eirp_dbm", link.eirp_dbm), m("link_budget_db", link.link_budget_db), range_metric,
        ]
        results = {
            "mask": {"limit_dbm": mask.limit_dbm, "point_margin_db": mask.point_margin_db,
                     "worst_freq_hz": np.float64(mask.worst_freq_hz), "worst_offset_hz": np.float64(mask.worst_offset_hz),
                     "reference_dbm": np.float64(mask.reference_dbm)},
            "obw": {"lower_hz": np.float64(obw.lower_hz), "upper_hz": np.float64(obw.upper_hz),
                    "total_power_dbm": np.float64(obw.total_power_dbm)},
            "acpr": {"main_power_dbm": np.float64(adjacent.main_power_dbm),
                     "lower_power_dbm": np.float64(adjacent.lower_power_dbm),
                     "upper_power_dbm": np.float64(adjacent.upper_power_dbm)},
            "link": {"model": p.path_loss_model, "margin_db": np.float64(p.margin_db),
                     "path_loss_at_required_db": np.float64(link.path_loss_db),
                     "link_margin_at_required_db": np.float64(link.link_margin_db),
                     "required_range_m": np.float64(p.required_range_m if p.required_range_m is not None else np.nan)},
        }
        analyzer = cap.attrs.get("analyzer_measurements")
        if analyzer:
            results["analyzer"] = {k: np.float64(np.nan if v is None else v) for k, v in analyzer.items()}
            results["agreement"] = {   # analyzer minus labbench
                "channel_power_db": np.float64(analyzer["channel_power_dbm"] - chp.power_dbm),
                "obw_hz": np.float64(analyzer["obw_hz"] - obw.obw_hz),
                "acpr_lower_db": np.float64(analyzer["acpr_lower_dbc"] - adjacent.lower_dbc),
                "acpr_upper_db": np.float64(analyzer["acpr_upper_dbc"] - adjacent.upper_dbc),
            }
        return Analysis(metrics, results)

    def figures(self, step) -> list[tuple[str, object]]:
        """The spectrum with the 802.11 OFDM mask (violations marked), from the stored trace and results."""
        from matplotlib.figure import Figure

        from labbench import plots

        try:
            cap = step.capture("spectrum")
        except Exception:
            return []
        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        ax = fig.subplots()
        mask = step.results.get("mask", {})
        limit = mask.get("limit_dbm")
        freq = cap.x()
        plots.plot_spectrum(freq, cap.values(), mask=None if limit is None else (freq, np.asarray(limit)), ax=ax,
                            label="DUT (RMS average)", title="Transmit spectrum and 802.11 OFDM 20 MHz mask")
        return [("Spectrum and mask", fig)]
