"""Issue 16 item 7: every chart (HTML report, bench page, nightly trends) has axes with
units and ticks, the thresholds drawn, and no text outside its box, in headless Chromium
at 900 and 1400 px."""

from __future__ import annotations

import html
import json
import re

import pytest

from sandbench.bench.loadtest import LoadTestConfig
from sandbench.bench.render import render_html as render_bench
from sandbench.nightly.dashboard import render_module
from sandbench.pipeline import bench
from sandbench.reports import Format, assess, render
from sandbench.sandbox.wasm import WasmBackend
from tests.conftest import EXAMPLES
from tests.nightly.test_dashboard import history

from .conftest import answer, make_evidence
from .test_html_browser import CHROMIUM, chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed"),
]

# Injected into a copy of the page (the pages themselves carry no script): measures every
# chart and every text box after layout and writes the result into the DOM for --dump-dom.
PROBE = """<script>
const inside = (r, box) => r.left >= box.left - 1 && r.right <= box.right + 1 &&
  r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
const overlap = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 &&
  a.top < b.bottom - 1 && b.top < a.bottom - 1;
const charts = [...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  const texts = [...svg.querySelectorAll('text')];
  const ticks = [...svg.querySelectorAll('.axis-x .tick text')].map(t => t.getBoundingClientRect());
  return {
    title: svg.getAttribute('aria-label'),
    axisX: svg.querySelectorAll('.axis-x').length, axisY: svg.querySelectorAll('.axis-y').length,
    ticks: svg.querySelectorAll('.tick').length,
    labels: [...svg.querySelectorAll('.axis-label')].map(t => t.textContent),
    thresholds: [...svg.querySelectorAll('.threshold text')].map(t => t.textContent),
    failed: svg.querySelectorAll('.threshold-failed').length,
    outside: texts.filter(t => !inside(t.getBoundingClientRect(), box)).map(t => t.textContent),
    collide: ticks.filter((a, i) => ticks.some((b, j) => j > i && overlap(a, b))).length,
    width: box.width,
  };
});
const boxes = [...document.querySelectorAll('td,th,pre,h1,h2,p,li')];
const overflowing = boxes.filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => e.textContent.slice(0, 60));
const page = document.documentElement.scrollWidth <= window.innerWidth;
const out = document.createElement('pre');
out.id = 'probe';
out.textContent = JSON.stringify({charts, overflowing, page, viewport: window.innerWidth});
document.body.appendChild(out);
</script>"""


def measure(tmp_path, page: str, width: int) -> dict:
    page = re.sub(r"<meta http-equiv=\"Content-Security-Policy\"[^>]*>", "", page)
    path = tmp_path / f"page-{width}.html"
    path.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = chromium(tmp_path, "--dump-dom", f"--window-size={width},2000", path.as_uri()).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def check_charts(data: dict, width: int) -> list[dict]:
    assert data["viewport"] == width
    assert data["page"], "the page scrolls sideways"
    assert data["overflowing"] == [], "text overflows its box"
    charts = data["charts"]
    assert charts
    for chart in charts:
        assert chart["axisX"] == 1, chart
        assert chart["outside"] == [], chart
        assert chart["collide"] == 0, chart
        assert chart["width"] <= width, chart
        if chart["axisY"]:  # every chart but the gauges has a y axis with a unit
            assert chart["ticks"] >= 4, chart
            assert any("(" in label for label in chart["labels"]), chart
    return charts


@pytest.fixture(scope="module")
def bench_page(tmp_path_factory):
    short = LoadTestConfig(url="http://127.0.0.1", users=2, rate=50, duration_s=2)
    with WasmBackend(tmp_path_factory.mktemp("cache")) as backend:
        health, result = bench(
            EXAMPLES / "hello-reactor",
            load_test=short,
            backend=backend,
            reps=2,
            invokes=20,
            thresholds=["p95 < 0.001ms", "rps > 1"],
        )
    return render_bench(result, health.status)


@pytest.mark.parametrize("width", [900, 1400])
def test_the_report_charts_have_axes_thresholds_and_no_overflow(tmp_path, width):
    # 20 calls (a p95 needs 20), three of them above the 100 ms degraded line
    calls = tuple(answer(wall_ms=ms) for ms in [3.0, 5.0, 4.0, 6.0] * 4 + [180.0] * 3 + [2.0])
    page = render(assess(make_evidence(outcomes=calls)), Format.HTML)
    charts = {c["title"]: c for c in check_charts(measure(tmp_path, page, width), width)}
    latency = charts["Latency per health call"]
    assert "p95 degraded above 100 ms (failed)" in latency["thresholds"]
    assert latency["failed"] >= 1, "the failing rule is highlighted"
    assert "latency (ms, log scale)" in latency["labels"] or "latency (ms)" in latency["labels"]
    assert charts["Peak memory"]["thresholds"], "the memory limit is drawn"


@pytest.mark.parametrize("width", [900, 1400])
def test_the_bench_charts_use_one_unit_per_axis(tmp_path, bench_page, width):
    charts = {c["title"]: c for c in check_charts(measure(tmp_path, bench_page, width), width)}
    spectrum = charts["Latency by percentile"]
    assert spectrum["thresholds"] == ["p95 < 0.001ms (failed)"]
    assert charts["Throughput per second"]["thresholds"] == ["rps > 1"]
    assert charts["Serving process: CPU"]["labels"][1] == "CPU (% of one core)"
    assert charts["Serving process: memory"]["labels"][1] == "memory (MiB)"


@pytest.mark.parametrize("width", [900, 1400])
def test_the_nightly_trends_have_ticks_and_the_reasons_are_on_the_page(tmp_path, width):
    runs, results, _ = history()
    page = render_module("mods/ok", runs, [r for r in results if r.module == "mods/ok"])
    check_charts(measure(tmp_path, page, width), width)
    assert "<h2>Why</h2>" in page
