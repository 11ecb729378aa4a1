"""A tiny PromQL evaluator: just what the alert rules in docs/bench.md use, evaluated on two
scrapes of a real exposition (promtool is not available here).

Supported: `rate(m{l="v", l=~"re"}[5m])`, `increase(...)`, `sum by (labels) (e)`, `a / b`
(one-to-one matching on identical label sets, as PromQL does without `on`/`ignoring`),
`histogram_quantile(q, e)` (linear interpolation within the bucket, as Prometheus does) and a
trailing `> N` filter. `rate` and `increase` need the series in both scrapes, as Prometheus
needs two samples in the window; the window is the time between the scrapes, taken as the
range written.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

Labels = frozenset[tuple[str, str]]
Vector = dict[Labels, float]
Scrape = dict[tuple[str, Labels], float]

_TOKEN = re.compile(r'\s*(=~|[(){}\[\],/>=]|"[^"]*"|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?[smh]?)')
_SECONDS = {"s": 1, "m": 60, "h": 3600}


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot parse {text[pos:]!r}")
        out.append(match.group(1))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str, before: Scrape, after: Scrape) -> None:
        self.toks = _tokens(text)
        self.before, self.after = before, after

    def take(self, expected: str | None = None) -> str:
        tok = self.toks.pop(0)
        if expected is not None and tok != expected:
            raise ValueError(f"expected {expected!r}, got {tok!r}")
        return tok

    def expr(self) -> Vector:
        left = self.term()
        while self.toks and self.toks[0] == "/":
            self.take("/")
            right = self.term()
            left = {k: v / right[k] for k, v in left.items() if k in right and right[k] != 0}
        if self.toks and self.toks[0] == ">":
            self.take(">")
            bound = float(self.take())
            left = {k: v for k, v in left.items() if v > bound}
        return left

    def term(self) -> Vector:
        head = self.take()
        if head == "sum":
            self.take("by")
            self.take("(")
            keep = set()
            while (tok := self.take()) != ")":
                if tok != ",":
                    keep.add(tok)
            self.take("(")
            inner = self.expr()
            self.take(")")
            summed: defaultdict[Labels, float] = defaultdict(float)
            for labels, value in inner.items():
                summed[frozenset((k, v) for k, v in labels if k in keep)] += value
            return dict(summed)
        if head in ("rate", "increase"):
            self.take("(")
            name, matchers, seconds = self.selector()
            self.take(")")
            return self.delta(name, matchers, seconds if head == "rate" else 1.0)
        if head == "histogram_quantile":
            self.take("(")
            q = float(self.take())
            self.take(",")
            inner = self.expr()
            self.take(")")
            return _quantile(q, inner)
        raise ValueError(f"unsupported: {head}")

    def selector(self) -> tuple[str, list[tuple[str, str, str]], float]:
        name = self.take()
        matchers = []
        if self.toks[0] == "{":
            self.take("{")
            while (label := self.take()) != "}":
                if label == ",":
                    continue
                op = self.take()
                matchers.append((label, op, self.take().strip('"')))
        self.take("[")
        window = self.take()
        self.take("]")
        return name, matchers, float(window[:-1]) * _SECONDS[window[-1]]

    def delta(self, name: str, matchers: list[tuple[str, str, str]], per: float) -> Vector:
        out: Vector = {}
        for (series, labels), value in self.after.items():
            if series != name or (series, labels) not in self.before:
                continue
            found = dict(labels)
            if all(
                (found.get(k, "") == v) if op == "=" else re.fullmatch(v, found.get(k, ""))
                for k, op, v in matchers
            ):
                out[labels] = (value - self.before[(series, labels)]) / per
        return out


def _quantile(q: float, buckets: Vector) -> Vector:
    by_series: defaultdict[Labels, list[tuple[float, float]]] = defaultdict(list)
    for labels, value in buckets.items():
        le = dict(labels)["le"]
        rest = frozenset((k, v) for k, v in labels if k != "le")
        by_series[rest].append((math.inf if le == "+Inf" else float(le), value))
    out: Vector = {}
    for labels, points in by_series.items():
        points.sort()
        total = points[-1][1]
        if total <= 0:
            continue
        rank, lower, below = q * total, 0.0, 0.0
        for bound, count in points:
            if count >= rank:
                if math.isinf(bound):
                    out[labels] = lower
                else:
                    out[labels] = lower + (bound - lower) * (rank - below) / max(
                        count - below, 1e-12
                    )
                break
            lower, below = bound, count
    return out


def evaluate(expr: str, before: Scrape, after: Scrape) -> Vector:
    """`expr` over the change from `before` to `after`: the vector PromQL would return."""
    parser = _Parser(expr, before, after)
    result = parser.expr()
    if parser.toks:
        raise ValueError(f"left over: {parser.toks}")
    return result
