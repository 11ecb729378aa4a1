"""The static dashboard: pages from results, and a real render in headless Chromium."""
# ruff: noqa: S311 - seeded pseudo-random samples, not secrets

from __future__ import annotations

import random
import re

import pytest

from sandbench.nightly import CellStatus, Regression, detect
from sandbench.nightly.dashboard import (
    publish,
    render_grid,
    render_module,
    render_regressions,
    slug,
    trend_svg,
)
from tests.reports.test_html_browser import CHROMIUM, chromium, png_pixels

from .conftest import result


def history():
    rng = random.Random(5)
    runs = [f"2026-01-0{i}" for i in range(1, 5)]
    results = []
    for night, run in enumerate(runs):
        slow = 1.5 if night == 3 else 1.0
        results.append(
            result(
                run,
                "mods/<b>evil</b>",
                "backend=wasm",
                samples=[slow * rng.uniform(1, 2) for _ in range(20)],
                night=night,
            )
        )
        results.append(
            result(
                run,
                "mods/ok",
                "backend=wasm",
                status=CellStatus.CRITICAL if night == 3 else CellStatus.HEALTHY,
                samples=[rng.uniform(1, 2) for _ in range(20)],
                night=night,
            )
        )
    regressions = [
        Regression(
            run_id=runs[-1],
            module="mods/ok",
            cell="backend=wasm",
            kind="status",
            message="healthy -> critical: why",
        )
    ]
    return runs, results, regressions


def stepped(store):
    """14 nights of a module run beside its baseline; 40 % slower from night 12 on."""
    rng = random.Random(8)
    runs = [f"2026-02-{i + 1:02d}" for i in range(14)]
    for night, run in enumerate(runs):
        scale = 1.4 if night >= 12 else 1.0
        base = [rng.uniform(1, 1.2) for _ in range(20)]
        new = [scale * rng.uniform(1, 1.2) for _ in range(20)]
        r = result(run, "mods/step", night=night)
        samples = {"health.latency_ms": new, "baseline:health.latency_ms": base}
        store.record(r.model_copy(update={"samples": samples}))
    return runs


def test_an_alarm_row_has_its_interval_and_the_chart_marks_the_change_night(sqlite_store):
    runs = stepped(sqlite_store)
    found = detect(sqlite_store, runs[-1])
    assert [r.metric for r in found] == ["health.latency_ms"]
    html = render_regressions(runs[-1], found)
    j = found[0].judgement
    assert f'<td class="interval">x{j.step:.2f} ({j.step_low:.2f}-{j.step_high:.2f})</td>' in html
    assert f'<td class="change">{runs[12]}</td>' in html
    page = render_module("mods/step", runs, sqlite_store.results())
    assert page.count('class="change-point"') == 1
    assert f"change point: from {runs[12]}" in page
    assert "baseline:health.latency_ms" not in page  # the baseline is not a metric of its own


def stepped_wasm(store):
    """14 nights of a WASM cell beside its baseline: CPU time per call 30 % more from night
    12 on, the wall clock unchanged; judged on CPU time."""
    rng = random.Random(9)
    runs = [f"2026-03-{i + 1:02d}" for i in range(14)]
    for night, run in enumerate(runs):
        scale = 1.3 if night >= 12 else 1.0
        samples = {}
        for metric, step in (("health.cpu_ms", scale), ("health.latency_ms", 1.0)):
            samples[f"baseline:{metric}"] = [rng.uniform(1, 1.2) for _ in range(20)]
            samples[metric] = [step * rng.uniform(1, 1.2) for _ in range(20)]
        r = result(run, "mods/wasm", night=night)
        store.record(r.model_copy(update={"samples": samples, "primary": "health.cpu_ms"}))
    return runs


def test_an_alarm_row_says_its_metric_and_tonights_interval_and_the_page_which_is_judged(
    sqlite_store,
):
    runs = stepped_wasm(sqlite_store)
    found = detect(sqlite_store, runs[-1])
    assert [r.metric for r in found] == ["health.cpu_ms"]
    j = found[0].judgement
    html = render_regressions(runs[-1], found)
    assert "<td>health.cpu_ms</td>" in html
    assert "(CPU time per call) stepped" in html
    night = f"x{j.night_ratio:.2f} ({j.night_low:.2f}-{j.night_high:.2f})"
    assert f'<td class="night">{night}</td>' in html
    assert j.night_low < 1.3 < j.night_high
    page = render_module("mods/wasm", runs, sqlite_store.results())
    judged = '<span class="judged">(judged: alarms are about this metric)</span>'
    assert f"health.cpu_ms {judged}</h3>" in page
    assert 'health.latency_ms <span class="recorded">(recorded, not judged)</span>' in page
    assert page.count('class="change-point"') == 1  # CPU's step; the wall clock has none
    assert f"change point: from {runs[12]} x1." in page


@pytest.fixture
def site(tmp_path):
    runs, results, regressions = history()
    publish(tmp_path / "site", runs, results, regressions)
    return tmp_path / "site"


def test_the_grid_has_a_row_per_module_and_escapes_names():
    runs, results, _ = history()
    html = render_grid(runs[-1], [r for r in results if r.run_id == runs[-1]])
    assert "&lt;b&gt;evil&lt;/b&gt;" in html
    assert "<b>evil" not in html
    assert html.count("<tr>") == 3
    assert "<script" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_a_trend_chart_has_a_point_per_night_and_nothing_without_samples():
    svg = trend_svg("health.latency_ms", [("n1", [1.0, 2.0, 3.0]), ("n2", [2.0, 3.0]), ("n3", [])])
    assert svg.count("<rect") == 2
    assert svg.count("<polyline") == 1
    assert trend_svg("m", [("n1", [])]) == ""


def test_module_page_names_are_unique_and_safe():
    assert slug("a/b") != slug("a-b")
    assert slug("../../etc/passwd").startswith("etc-passwd-")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_chromium_renders_grid_regressions_and_trends(tmp_path, site):
    grid = chromium(tmp_path, "--dump-dom", (site / "index.html").as_uri()).stdout
    assert "Nightly 2026-01-04: compatibility" in grid
    assert ">critical</span>" in grid
    regressions = chromium(tmp_path, "--dump-dom", (site / "regressions.html").as_uri()).stdout
    assert "healthy -&gt; critical: why" in regressions
    page = site / "modules" / f"{slug('mods/ok')}.html"
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert dom.count("<rect") == 4  # one interquartile box per night
    assert "<polyline" in dom
    shot = tmp_path / "shot.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=800,900", page.as_uri())
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (800, 900)
    assert len(set(pixels)) > 20


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_chromium_renders_the_change_point_and_the_alarm_interval(tmp_path, sqlite_store):
    runs = stepped(sqlite_store)
    found = detect(sqlite_store, runs[-1])
    publish(tmp_path / "site", runs, sqlite_store.results(), found)
    dom = chromium(tmp_path, "--dump-dom", (tmp_path / "site/regressions.html").as_uri()).stdout
    assert re.search(r'<td class="interval">x1\.\d\d \(1\.\d\d-1\.\d\d\)</td>', dom)
    assert re.search(r'<td class="night">x1\.\d\d \(1\.\d\d-1\.\d\d\)</td>', dom)
    page = tmp_path / "site" / "modules" / f"{slug('mods/step')}.html"
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert 'class="change-point"' in dom
    assert dom.count("<rect") == 14
