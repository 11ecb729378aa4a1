"""`sandbench nightly publish`: a static site over the history. No scripts, no fetches.

    index.html          the compatibility grid of the latest run (module x cell) and links
    regressions.html    what got worse in the latest run: for a performance alarm, the metric,
                        the night its step began and the step with its 95 % interval
    modules/<slug>.html per module: status per night and per cell, trend charts of every
                        metric (median per night, the interquartile band, the samples' range)
                        with the newest change point as a dashed line

Pages are pure functions of the results (`render_*`); `publish` does the writing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path

from sandbench.charts import Axis, trend_chart

from .models import CellResult, CellStatus
from .regress import (
    BASELINE_PREFIX,
    Judgement,
    Regression,
    judge_series,
    judged_metrics,
    night_value,
)

__all__ = ["publish", "render_grid", "render_module", "render_regressions", "slug", "trend_svg"]

_COLOURS = {
    CellStatus.HEALTHY: "#1a7f37",
    CellStatus.DEGRADED: "#bf8700",
    CellStatus.CRITICAL: "#cf222e",
    CellStatus.ERROR: "#6e7781",
    CellStatus.TIMEOUT: "#8250df",
    CellStatus.CRASHED: "#24292f",
}
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1f2328}
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left}
th{background:#f6f8fa}.s{color:#fff;font-weight:600;border-radius:4px;padding:1px 6px}
nav a{margin-right:16px}svg{background:#fff;border:1px solid #d0d7de;margin:4px 0}
.muted{color:#656d76}
"""


def slug(module: str) -> str:
    """A file name for a module id: readable, and unique by a short hash."""
    readable = re.sub(r"[^a-zA-Z0-9]+", "-", module).strip("-")[-48:] or "module"
    return f"{readable}-{hashlib.sha256(module.encode()).hexdigest()[:8]}"


def _page(title: str, body: str, depth: int = 0) -> str:
    up = "../" * depth
    nav = f'<nav><a href="{up}index.html">Grid</a><a href="{up}regressions.html">Regressions</a></nav>'
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<style>{_CSS}</style></head><body>{nav}<h1>{escape(title)}</h1>{body}</body></html>\n"
    )


def _badge(status: CellStatus) -> str:
    return f'<span class="s" style="background:{_COLOURS[status]}">{status.value}</span>'


def render_grid(run_id: str, results: Sequence[CellResult]) -> str:
    """The compatibility grid of one run: a row per module, a column per cell."""
    cells = sorted({r.cell for r in results})
    rows: dict[str, dict[str, CellResult]] = {}
    for r in results:
        rows.setdefault(r.module, {})[r.cell] = r
    head = "".join(f"<th>{escape(c)}</th>" for c in cells)
    body = []
    for module in sorted(rows):
        tds = []
        for cell in cells:
            got = rows[module].get(cell)
            tds.append(
                "<td>-</td>"
                if got is None
                else f'<td title="{escape(got.message)}">{_badge(got.status)}</td>'
            )
        link = f'<a href="modules/{slug(module)}.html">{escape(module)}</a>'
        body.append(f"<tr><th>{link}</th>{''.join(tds)}</tr>")
    counts = {s: sum(r.status is s for r in results) for s in CellStatus}
    summary = " ".join(f"{_badge(s)} {n}" for s, n in counts.items() if n)
    table = f"<table><tr><th>module</th>{head}</tr>{''.join(body)}</table>"
    return _page(f"Nightly {run_id}: compatibility", f"<p>{summary}</p>{table}")


def render_regressions(run_id: str, regressions: Sequence[Regression]) -> str:
    """Every regression of one run, or a line saying there is none."""
    if not regressions:
        return _page(f"Regressions in {run_id}", '<p id="none">No regressions.</p>')
    rows = "".join(
        f'<tr><td><a href="modules/{slug(r.module)}.html">{escape(r.module)}</a></td>'
        f"<td>{escape(r.cell)}</td><td>{r.kind}</td><td>{escape(r.metric)}</td>"
        f"{_step_cells(r.judgement)}<td>{escape(r.message)}</td></tr>"
        for r in regressions
    )
    head = "<th>module</th><th>cell</th><th>kind</th><th>metric</th><th>since night</th>"
    head += "<th>step (95% interval)</th><th>tonight / baseline (95% interval)</th><th>what</th>"
    table = f"<table><tr>{head}</tr>{rows}</table>"
    return _page(f"Regressions in {run_id}: {len(regressions)}", table)


def _step_cells(j: Judgement | None) -> str:
    """The change night and the step with its interval, for a performance alarm."""
    if j is None:
        return "<td>-</td><td>-</td><td>-</td>"
    night = "-"  # an unpaired night has no interval of its own
    if j.night_ratio is not None:
        night = f"x{j.night_ratio:.2f} ({j.night_low:.2f}-{j.night_high:.2f})"
    return (
        f'<td class="change">{escape(j.change_run)}</td>'
        f'<td class="interval">x{j.step:.2f} ({j.step_low:.2f}-{j.step_high:.2f})</td>'
        f'<td class="night">{night}</td>'
    )


def trend_svg(
    metric: str, nights: Sequence[tuple[str, Sequence[float]]], change: Judgement | None = None
) -> str:
    """A trend chart (`charts.trend_chart`): per night the samples' range, interquartile box
    and median line, on axes with the metric's unit and ticks; with `change`, a dashed line
    at the night its step began, labelled with the step and its interval."""
    unit = "ms" if metric.endswith("_ms") else "bytes" if metric.endswith("_bytes") else ""
    label = f"{metric} ({unit})" if unit else metric
    runs = [run for run, values in nights if values]
    marks = []
    if change is not None and change.change_run in runs:
        marks.append(
            (
                runs.index(change.change_run),
                f"change point: from {change.change_run} x{change.step:.2f} "
                f"(95% {change.step_low:.2f}-{change.step_high:.2f})",
            )
        )
    axis = Axis(label, fmt=lambda v: f"{v:.3g}")
    return trend_chart(f"{metric} per night", nights, axis, marks=marks, mark_class="change-point")


def _reasons(by_cell: dict[str, dict[str, CellResult]]) -> str:
    """Why each night that was not healthy was not, in the page (not only in tooltips)."""
    items = "".join(
        f"<li>{escape(run)} {escape(cell)}: {_badge(r.status)} {escape(r.message)}</li>"
        for cell, seen in sorted(by_cell.items())
        for run, r in sorted(seen.items())
        if r.status is not CellStatus.HEALTHY and r.message
    )
    return f"<h2>Why</h2><ul class='reasons'>{items}</ul>" if items else ""


def _change(results: Sequence[CellResult], metric: str) -> Judgement | None:
    """The newest change point of `metric` over these nights (as `detect` judges them)."""
    if not results:
        return None
    last = night_value(results[-1], metric)
    if last is None:
        return None
    runs, values = [], []
    for r in results:
        value = night_value(r, metric)
        if value is not None and value.paired == last.paired:
            runs.append(r.run_id)
            values.append(value.value)
    return judge_series(runs, values, metric) if len(values) >= 4 else None


def _role(newest: CellResult, metric: str) -> str:
    """Whether alarms are judged on `metric` in this cell (as of its newest night)."""
    if not newest.primary:
        return ""
    judged = metric in judged_metrics(newest)
    word = "judged: alarms are about this metric" if judged else "recorded, not judged"
    return f' <span class="{"judged" if judged else "recorded"}">({word})</span>'


def render_module(module: str, runs: Sequence[str], results: Sequence[CellResult]) -> str:
    """One module's page: a status timeline per cell and a trend chart per metric and cell."""
    by_cell: dict[str, dict[str, CellResult]] = {}
    for r in results:
        by_cell.setdefault(r.cell, {})[r.run_id] = r
    ran = [run for run in runs if any(run in c for c in by_cell.values())]
    head = "".join(f"<th>{escape(run)}</th>" for run in ran)
    rows, charts = [], []
    for cell in sorted(by_cell):
        seen = by_cell[cell]
        tds = "".join(
            f'<td title="{escape(seen[run].message)}">{_badge(seen[run].status)}</td>'
            if run in seen
            else "<td>-</td>"
            for run in ran
        )
        rows.append(f"<tr><th>{escape(cell)}</th>{tds}</tr>")
        metrics = sorted({m for r in seen.values() for m in r.samples})
        newest = seen[[run for run in ran if run in seen][-1]]
        for metric in (m for m in metrics if not m.startswith(BASELINE_PREFIX)):
            svg = trend_svg(
                metric,
                [(run, seen[run].samples.get(metric, [])) for run in ran if run in seen],
                _change([seen[run] for run in ran if run in seen], metric),
            )
            charts.append(f"<h3>{escape(cell)}: {escape(metric)}{_role(newest, metric)}</h3>{svg}")
    table = f"<h2>Status per night</h2><table><tr><th>cell</th>{head}</tr>{''.join(rows)}</table>"
    body = table + _reasons(by_cell) + "<h2>Trends</h2>" + "".join(charts)
    return _page(module, body, depth=1)


def publish(
    out: Path, runs: Sequence[str], results: Sequence[CellResult], regressions: Sequence[Regression]
) -> list[Path]:
    """Write the site for `results` (all nights) into `out`; returns the files written."""
    latest = runs[-1] if runs else "(no runs)"
    (out / "modules").mkdir(parents=True, exist_ok=True)
    pages = {
        out / "index.html": render_grid(latest, [r for r in results if r.run_id == latest]),
        out / "regressions.html": render_regressions(latest, regressions),
    }
    for module in sorted({r.module for r in results}):
        mine = [r for r in results if r.module == module]
        pages[out / "modules" / f"{slug(module)}.html"] = render_module(module, runs, mine)
    for path, html in pages.items():
        path.write_text(html, encoding="utf-8")
    return list(pages)
