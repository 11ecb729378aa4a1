"""Slower versions of real modules for the nightly rates harness: real extra work, calibrated.

A planted slowdown must be work the module really does, not an edited number. Each rate
module gets a knob that makes it do more of something, and a version per effect (+10, +20,
+50 %) whose knob is set so the extra work costs that share of the module's own judged
per-call cost (CPU time: a WASM call's thread clock, the container's cgroup CPU per request):

- the hand-written WAT modules (hello, hello-reactor, host-log, host-storage): their
  handler first runs a loop of N multiply-adds (`$__burn`, wrapped around the exported
  handler); N = 0 is the baseline;
- the container (pricing-container): its HTTP server runs a Python loop of N additions
  before each request's handler (an order's lines cost it next to nothing: CPython prices
  150 lines in about 0.1 ms, less than the proxy's jitter);
- the modules that price an order (vendas, vendas-reactor, the pricing-py component): the
  health request is an order of K lines, which they parse, validate and price line by
  line; the baseline prices 4 lines.

Calibration (`calibrate`) measures the cost of a large knob over the baseline's the way
the nights do (both loaded side by side, calls alternated in blocks: `pipeline.paired`),
takes the extra cost as linear in the knob, and sets each version's knob to baseline +
effect / (relative slope). The step a version really makes is measured again every night (the harness
prints its median), so a calibration that is off shows.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sandbench.bench.paired import PairedPlan
from sandbench.manifests import load
from sandbench.nightly.stats import paired_shift
from sandbench.pipeline import paired

__all__ = ["Knobbed", "calibrate", "knobbed_modules"]

_BURN = """
  (global $__sink (mut i32) (i32.const 0))
  (func $__burn
    (local $i i32) (local $x i32)
    (local.set $i (i32.const {n}))
    (block $end (loop $next
      (br_if $end (i32.eqz (local.get $i)))
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br $next)))
    (global.set $__sink (local.get $x)))
"""
_HANDLER = re.compile(r'\(func (\$\w+ )?\(export "(_start|sandbench_handle)"\)')
BURN_MODULES = ("hello", "hello-reactor", "host-log", "host-storage")
ORDER_MODULES = ("vendas", "vendas-reactor", "pricing-py")
BASE_LINES = 4
MAX_LINES = {"vendas": 1000, "vendas-reactor": 1000, "pricing-py": 200}
_SERVE = "        response = handle(request)\n"


@dataclass
class Knobbed:
    """A module with a knob: `make(folder, knob)` writes a version of it there."""

    name: str
    make: Callable[[Path, int], None]
    base: int
    probe: int  # a large knob, for the slope
    cap: int
    metric: str
    knobs: dict[float, int] = field(default_factory=dict)  # effect -> the knob for it


def _sign(folder: Path) -> None:
    """Give the edited copy the signature of its own digest (else `signature` is critical)."""
    path = folder / "module.json"
    manifest = json.loads(path.read_text())
    manifest["signature"] = "SHA256:" + load(folder).digest.removeprefix("sha256:")
    path.write_text(json.dumps(manifest, indent=2))


def _burner(source: Path) -> Callable[[Path, int], None]:
    def make(folder: Path, iterations: int) -> None:
        shutil.copytree(source, folder)
        wat = (folder / "module.wat").read_text().rstrip()
        found = _HANDLER.search(wat)
        if found is None or not wat.endswith(")"):
            raise ValueError(f"{source}: no exported handler to wrap")
        name = (found.group(1) or "$__handler ").strip()
        wat = wat[: found.start()] + f"(func {name}" + wat[found.end() :]
        if found.group(2) == "_start":
            wrapper = f'(func (export "_start") (call $__burn) (call {name}))'
        else:
            wrapper = (
                '(func (export "sandbench_handle") (param i32 i32) (result i64) '
                f"(call $__burn) (call {name} (local.get 0) (local.get 1)))"
            )
        (folder / "module.wat").write_text(wat[:-1] + _BURN.format(n=iterations) + wrapper + ")\n")
        _sign(folder)

    return make


def _python_burner(source: Path) -> Callable[[Path, int], None]:
    def make(folder: Path, iterations: int) -> None:
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__"))
        server = (folder / "server.py").read_text()
        if _SERVE not in server:
            raise ValueError(f"{source}/server.py: no handler call to slow down")
        burn = f"        sum(range({iterations}))  # the rates harness's knob\n"
        (folder / "server.py").write_text(server.replace(_SERVE, burn + _SERVE))
        _sign(folder)

    return make


def _order(source: Path) -> Callable[[Path, int], None]:
    def make(folder: Path, lines: int) -> None:
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__"))
        if source.name.startswith("vendas"):  # sku,quantity,unit_price_cents lines
            body = "".join(f"A-{i},{i % 7 + 1},{1990 + i}\n" for i in range(lines))
            kind = "text/csv"
        else:
            items = [
                {"sku": f"A-{i}", "qty": i % 7 + 1, "unit_price": f"{19 + i}.90"}
                for i in range(lines)
            ]
            body, kind = (
                json.dumps({"items": items, "customer": {"tier": "gold"}}),
                "application/json",
            )
        path = folder / "module.json"
        manifest = json.loads(path.read_text())
        manifest["health"]["request"] = {
            "method": "POST",
            "path": "/quote",
            "headers": {"content-type": kind},
            "body": body,
        }
        path.write_text(json.dumps(manifest, indent=2))
        _sign(folder)

    return make


def knobbed_modules(sources: dict[str, Path]) -> list[Knobbed]:
    """The eight rate modules with their knobs (`sources`: name -> a module folder)."""
    out = [
        Knobbed(name, _burner(sources[name]), 0, 400_000, 2**31 - 1, "health.cpu_ms")
        for name in BURN_MODULES
    ]
    for name in ORDER_MODULES:
        cap = MAX_LINES[name]  # the largest order the module accepts
        out.append(
            Knobbed(name, _order(sources[name]), BASE_LINES, cap * 3 // 4, cap, "health.cpu_ms")
        )
    container = _python_burner(sources["pricing-container"])
    out.append(Knobbed("pricing-container", container, 0, 200_000, 10**8, "health.cpu_ms"))
    return out


def _step(module: Knobbed, knob: int, scratch: Path, cache: Path, precision: float) -> float:
    """The probe version's cost over the baseline's, measured as the nights measure: both
    loaded side by side, their calls alternated in blocks (`pipeline.paired`), until the
    ratio's 95 % interval is within about +-`precision` (or 400 blocks, or 2000 x
    `precision` seconds: 20 s at 1 %)."""
    folders = []
    for version in (knob, module.base):
        folder = scratch / f"{module.name}-calibrate-{version}"
        module.make(folder, version)
        folders.append(folder)
    plan = PairedPlan(max_blocks=400, max_seconds=2000 * precision)
    session = paired(*folders, lambda d: paired_shift(d).half_width <= precision,
                     cache_dir=cache, plan=plan)  # fmt: skip
    for folder in folders:
        shutil.rmtree(folder)
    if not session.pairs:
        raise RuntimeError(f"{module.name}: calibration failed ({session.failure})")
    return math.exp(paired_shift([math.log(c / b) for c, b in session.pairs["cpu"]]).estimate)


def calibrate(
    module: Knobbed,
    effects: tuple[float, ...],
    scratch: Path,
    cache: Path,
    precision: float = 0.01,
) -> None:
    """Set `module.knobs` so that each version costs about (1 + effect) x the baseline.

    The cost ratio to the baseline is measured paired (`_step`), first at the probe's
    knob, then again at the knob that line puts at the largest effect (the extra cost is
    not quite linear in the knob: measured, a large probe under-predicted the +20 % knob's
    step by up to half); the extra cost is taken as linear between the baseline and that
    second point. A knob is capped at `module.cap`.
    """
    knob = module.probe
    for _ in range(2):
        slope = (_step(module, knob, scratch, cache, precision) - 1) / (knob - module.base)
        if slope <= 0:
            raise RuntimeError(f"{module.name}: its knob does not cost anything measurable")
        knob = min(module.base + max(round(max(effects) / slope), 1), module.cap)
    for effect in effects:
        extra = round(effect / slope)
        module.knobs[effect] = min(module.base + max(extra, 1), module.cap)
