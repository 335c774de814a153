"""Reports: JUnit a CI system can read, and an HTML file that shows every figure (checked headless)."""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from labbench.cli import main
from labbench.limits import Metric
from labbench.procedure import Procedure, all_procedures
from labbench.report import render_html, write_html, write_junit
from labbench.runner import RunResult, StepResult, run
from labbench.store import read_step

IMG_RE = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--force-device-scale-factor=1"]
DRIFT = {"step": 1, "procedure": "eye-jitter", "metric": "rj_rms_s", "value": 6.1e-13, "unit": "s",
         "mean": 3.67e-13, "std": 0.0, "sigma": 3.67e-15, "deviation_sigma": 66.4, "runs": 3, "k_sigma": 3.0}


@pytest.fixture(scope="module")
def eye_run(tmp_path_factory):
    """One short eye-jitter run on the simulated bench (100 kpts: under a second), with a drift alarm stored
    the way the runner stores it."""
    folder = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABBENCH_DATA", str(folder / "data"))
        result = run("eye-jitter", sets={"points": "100000"}, out=folder / "runs")
    with h5py.File(result.run_file, "a") as f:
        f.attrs["drift_alarms"] = json.dumps([DRIFT])
    return result


@pytest.fixture(scope="module")
def eye_html(eye_run) -> str:
    """The report with the eye-jitter figures, drawn once (drawing them takes about a second)."""
    return render_html(eye_run.run_file)


def images(html: str) -> list[tuple[str, np.ndarray]]:
    """(alt text, decoded RGB pixels) of every embedded <img>."""
    out = []
    for alt, data in IMG_RE.findall(html):
        png = base64.b64decode(data, validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n", f"{alt}: not a PNG"
        out.append((alt, imread(io.BytesIO(png), format="png")[..., :3]))
    return out


def is_drawn(pixels: np.ndarray) -> bool:
    """Not blank: at least 1 % of the pixels differ clearly from the background colour."""
    background = np.median(pixels.reshape(-1, 3), axis=0)
    differs = np.abs(pixels - background).max(axis=-1) > 0.1
    return differs.mean() > 0.01


class Scribble(Procedure):
    """A stand-in procedure that draws one known figure of a stored eye-jitter step."""
    name = "eye-jitter"

    def figures(self, step):
        fig = Figure(figsize=(4, 3))
        ax = fig.add_subplot()
        ax.plot(np.sin(np.linspace(0, 20, 500)), lw=3)
        ax.set_title(f"{len(step.metrics)} metrics")
        return [("sine", fig)]


class Broken(Procedure):
    name = "eye-jitter"

    def figures(self, step):
        raise ValueError("no eye in this step")


# ---------------------------------------------------------------- JUnit

def junit_of(result: RunResult, tmp_path: Path) -> ET.Element:
    path = tmp_path / "j.xml"
    write_junit(result, path)
    return ET.parse(path).getroot()


def synthetic_result() -> RunResult:
    tj = Metric("tj_s", 41e-12, "s").judged(None, 28e-12)
    rj = Metric("rj_rms_s", 0.61e-12, "s").judged(None, 1e-12)
    return RunResult("r1", "r1.h5", "FAIL", "complete", [
        StepResult(1, "eye-jitter", "FAIL", [tj, rj], duration_s=4.2),
        StepResult(2, "eye-jitter", "ERROR", [], "scope DSAZ334A did not answer ':WAVeform:DATA?' within 20 s"),
        StepResult(3, "eye-jitter", "PASS", [rj], duration_s=4.0)], "nightly", [dict(DRIFT, step=3)])


def test_junit_failure_names_the_metric_with_value_and_limit(tmp_path):
    suite = junit_of(synthetic_result(), tmp_path).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    failure = suite.find("testcase[@name='01_eye-jitter']/failure")
    assert failure.get("message") == "tj_s = 4.1e-11 s (limit <= 2.8e-11)"
    error = suite.find("testcase[@name='02_eye-jitter']/error")
    assert "did not answer" in error.get("message")


def test_junit_shows_drift_alarms_on_a_passing_step(tmp_path):
    suite = junit_of(synthetic_result(), tmp_path).find("testsuite")
    case = suite.find("testcase[@name='03_eye-jitter']")
    assert case.find("failure") is None and case.find("error") is None        # drift does not fail the step
    prop = case.find("properties/property[@name='drift_alarm.rj_rms_s']")
    assert "+66.4 sigma" in prop.get("value")
    assert "rj_rms_s" in case.find("system-out").text
    assert suite.find("properties/property[@name='drift_alarms']").get("value") == "1"
    assert suite.find("testcase[@name='01_eye-jitter']/system-out") is None


# ---------------------------------------------------------------- HTML

def test_html_has_the_verdict_table_metrics_and_drift_alarms(eye_run, eye_html):
    html = eye_html
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert 'id="verdicts"' in html and f">{eye_run.verdict}<" in html and "01_eye-jitter" in html
    for metric in eye_run.steps[0].metrics:
        assert f"<td>{metric.name}" in html
    assert "rj_rms_s (drift)" in html and "+66.4 &sigma;" in html


def test_html_embeds_every_figure_the_procedure_draws_as_a_drawn_png(eye_run, eye_html):
    html = eye_html
    step = read_step(eye_run.run_file, eye_run.steps[0].step_name)
    titles = [title for title, _ in all_procedures()["eye-jitter"]().figures(step)]
    found = images(html)
    assert [alt for alt, _ in found] == titles
    for alt, pixels in found:
        assert pixels.shape[0] > 50 and pixels.shape[1] > 50 and is_drawn(pixels), alt


def test_html_report_works_with_any_figures_and_with_none(eye_run):
    found = images(render_html(eye_run.run_file, {"eye-jitter": Scribble}))
    assert [alt for alt, _ in found] == ["sine"] and is_drawn(found[0][1])
    html = render_html(eye_run.run_file, {})
    assert images(html) == [] and "not installed here" in html and "<td>tj_s" in html


def test_a_failing_figure_is_a_note_not_a_lost_report(eye_run):
    html = render_html(eye_run.run_file, {"eye-jitter": Broken})
    assert "no eye in this step" in html and "<td>tj_s" in html


def test_blank_image_is_told_apart_from_a_drawn_one():
    assert not is_drawn(np.ones((100, 100, 3)))
    drawn = np.ones((100, 100, 3))
    drawn[40:60, :, :] = 0
    assert is_drawn(drawn)


def test_report_command_writes_the_file(eye_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("labbench.procedure.all_procedures", lambda: {"eye-jitter": Scribble})
    target = tmp_path / "out.html"
    assert main(["report", eye_run.run_file, "--html", str(target)]) == 0
    assert len(images(target.read_text())) == 1 and str(target) in capsys.readouterr().out
    assert write_html(eye_run.run_file) == Path(eye_run.run_file).with_suffix(".html")


def test_report_command_on_a_file_that_is_not_a_run(tmp_path, capsys):
    bogus = tmp_path / "x.h5"
    bogus.write_text("nope")
    assert main(["report", str(bogus)]) == 2 and "not an HDF5 file" in capsys.readouterr().err


# ---------------------------------------------------------------- in a browser

PROBE = """<script>
window.addEventListener("load", () => {
  const found = [...document.images].map(img => {
    const r = img.getBoundingClientRect(), s = getComputedStyle(img);
    return {alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
            x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height,
            shown: s.display !== "none" && s.visibility !== "hidden" && s.opacity !== "0"};
  });
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images: found, height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
});
</script>"""


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium): "
                                              "the headless browser check of the HTML report cannot run")
def test_report_renders_in_headless_chromium_with_every_image_visible(eye_html, tmp_path):
    html = eye_html
    expected = [alt for alt, _ in IMG_RE.findall(html)]
    assert expected, "the eye-jitter step draws figures; the browser must show them"
    page = tmp_path / "report.html"
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    profile = tmp_path / "profile"
    profile.mkdir()
    dom = chromium("--virtual-time-budget=10000", "--dump-dom", page.as_uri(), profile=profile)
    probe = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert probe, f"the page did not load in chromium: {dom.stderr[-500:]}"
    report = json.loads(probe.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert [i["alt"] for i in report["images"]] == expected
    for image in report["images"]:
        assert image["complete"] and image["width"] > 50 and image["height"] > 50, image   # the browser decoded it
        assert image["shown"] and image["w"] > 50 and image["h"] > 50, image                 # ... and lays it out

    height = min(int(report["height"]) + 10, 12000)
    shot = tmp_path / "shot.png"
    chromium(f"--window-size=1200,{height}", f"--screenshot={shot}", page.as_uri(), profile=profile)
    pixels = imread(shot)[..., :3]
    for image in report["images"]:
        x, y, w, h = (int(round(image[k])) for k in ("x", "y", "w", "h"))
        region = pixels[y:y + h, x:x + w]
        assert region.shape[0] > 50 and region.shape[1] > 50 and is_drawn(region), image["alt"]   # seen on screen
