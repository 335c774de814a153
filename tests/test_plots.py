"""Plot helpers: each returns its Axes with what it was given drawn, and the curves they compute are right."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.special import erfcinv  # noqa: E402

from labbench import plots  # noqa: E402

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_engineering_scale_picks_the_prefix_that_reads_in_1_to_1000():
    assert plots.engineering_scale([3e-12, 20e-12], "s") == (1e-12, "ps")
    assert plots.engineering_scale([0.4], "V") == (1e-3, "mV")
    assert plots.engineering_scale([5.2e9], "Hz") == (1e9, "GHz")
    assert plots.engineering_scale([], "A") == (1.0, "A")


def test_bathtub_model_opening_equals_ui_minus_tj_for_pure_rj():
    # Pure Gaussian RJ of sigma: TJ(1e-12) = 2 Q sigma with Q = 7.0345 (per-side tail convention), so the
    # opening at 1e-12 is UI - 2 Q sigma. Grid step is 1/400 UI, so allow two steps.
    ui_s, sigma_s, ber = 100e-12, 1e-12, 1e-12
    q = np.sqrt(2) * erfcinv(2 * ber)
    x_ui, curve = plots.bathtub_curve(np.zeros(64), ui_s, rj_rms_s=sigma_s)
    opening_ui = np.ptp(x_ui[curve <= ber])
    assert opening_ui == pytest.approx(1 - 2 * q * sigma_s / ui_s, abs=2 / 400)


def test_bathtub_from_measured_tie_is_half_at_the_crossing_and_zero_in_the_middle():
    tie = RNG.normal(0, 2e-12, 20000)
    x_ui, curve = plots.bathtub_curve(tie, 100e-12)
    assert curve[0] == pytest.approx(0.5, abs=0.02)       # half the crossings land after x = 0
    assert curve[len(curve) // 2] == 0.0                   # 25 sigma from either crossing


def test_jitter_spectrum_reads_a_sinusoid_pk_pk_at_its_frequency():
    # 10 ps pk-pk sinusoidal jitter at 10 MHz sampled once per 100 ps UI for 0.5 us (5 periods): the Hann
    # scalloping loss is at most 1.42 dB between bins, and 10 MHz falls on a bin here, so within 1 %.
    t = np.arange(5000) * 100e-12
    tie = 5e-12 * np.sin(2 * np.pi * 10e6 * t)
    f_hz, pp_s = plots.jitter_spectrum(tie, t)
    k = np.argmax(pp_s)
    assert f_hz[k] == pytest.approx(10e6, rel=0.01)
    assert pp_s[k] == pytest.approx(10e-12, rel=0.01)


def test_each_helper_returns_the_axes_it_drew_on():
    fig, axes = plt.subplots(2, 5)
    a = iter(axes.ravel())
    t = np.arange(2000) * 1e-10
    tie = RNG.normal(0, 1e-12, t.size)
    drawn = [
        plots.plot_eye(RNG.poisson(2, (40, 64)), np.linspace(-0.5, 1.5, 65), np.linspace(-0.3, 0.3, 41), ax=next(a)),
        plots.plot_bathtub(tie, 100e-12, ax=next(a)),
        plots.plot_jitter_histogram(tie, ax=next(a), rj_rms_s=1e-12),
        plots.plot_jitter_spectrum(tie, t, ax=next(a), tones_hz=[1e7]),
        plots.plot_spectrum(np.linspace(2.40e9, 2.48e9, 801), RNG.normal(-60, 1, 801),
                            mask=([2.40e9, 2.48e9], [-50, -50]), ax=next(a)),
        plots.plot_spectrogram(np.arange(5) * 1e-3, np.linspace(5e9, 5.1e9, 7), RNG.normal(-80, 1, (5, 7)), ax=next(a)),
        plots.plot_dfs_timeline(np.arange(100) * 0.1, RNG.normal(-60, 1, 100), [(1.0, "radar"), (2.0, 5.0, "move")],
                                ax=next(a)),
        plots.plot_current_profile(np.arange(100) * 1e-3, RNG.random(100) * 1e-3,
                                   states={"start_s": [0, 0.05], "end_s": [0.02, 0.09], "name": ["sleep", "tx"]},
                                   ax=next(a)),
        plots.plot_ccdf(np.linspace(0, 10, 101), np.exp(-10 ** (np.linspace(0, 10, 101) / 10)), reference="complex",
                        ax=next(a)),
        plots.plot_rail_psd(np.linspace(0, 1e6, 1000), np.full(1000, 1e-12), spurs_hz=[1e5], ax=next(a)),
    ]
    assert drawn == list(axes.ravel())
    assert all(ax.has_data() for ax in drawn)


def test_spectrum_marks_only_the_points_over_the_mask():
    f = np.linspace(0, 10e6, 11)
    p = np.full(11, -70.0)
    p[3] = -40.0
    ax = plots.plot_spectrum(f, p, mask=([0, 10e6], [-50, -50]))
    over = [line for line in ax.lines if line.get_label() == "over mask"]
    assert len(over) == 1 and len(over[0].get_xdata()) == 1


def test_eye_refuses_a_histogram_that_does_not_match_its_edges():
    with pytest.raises(ValueError, match="does not match"):
        plots.plot_eye(np.ones((10, 10)), np.linspace(0, 1, 12), np.linspace(0, 1, 11))


def test_current_profile_labels_each_state_once():
    ax = plots.plot_current_profile(np.arange(10) * 1.0, np.ones(10),
                                    states=[(0, 1, "sleep"), (2, 3, "tx"), (4, 5, "sleep")])
    labels = ax.get_legend_handles_labels()[1]
    assert labels.count("sleep") == 1 and labels.count("tx") == 1


def test_helpers_create_a_figure_when_no_axes_is_given():
    ax = plots.plot_rail_psd([1e3, 1e4, 1e5], [1e-12, 1e-13, 1e-14])
    assert ax.figure is not None and ax.get_xscale() == "log"
