"""Right-sizing `security.limits` from measured calls, never looser than what was declared.

The rules (docs/manifest.md, "manifest suggest"):

- Only successful calls count: the module answered with a status below 500 and broke no
  limit. With none, the declared limits are printed back unchanged: a block sized from
  failures (or left empty, so that the policy's defaults apply) would loosen them.
- Each measured value gets headroom (x1.5 for memory and CPU, x4 for time) and is then
  clamped to the limit the calls ran under (the declared one, or the policy's default when
  the manifest declares none): the calls succeeded within it, so a suggestion never raises
  a limit. A clamped value says so in its note.
- CPU is sized from the CPU time per call the backend reports (`Usage.cpu_ms`), within the
  suggested timeout: a call may use `cpu x timeout` CPU time (docs/abi.md).
- Values are written in the manifest's own units (`64MiB`, `250m`, `2s`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sandbench.manifests import LIMITS, ManifestLimits, limit
from sandbench.sandbox import Outcome, SandboxLimits

__all__ = ["HEADROOM", "TIME_HEADROOM", "sized_limits", "succeeded"]

HEADROOM = 1.5
TIME_HEADROOM = 4
MiB = 1024 * 1024
_MIN_TIMEOUT_MS = 100


def succeeded(outcome: Outcome) -> bool:
    """A call that can size limits: it answered below 500 and broke no limit."""
    return outcome.ok and outcome.response is not None and outcome.response.status < 500


def _round_up(value: float, step: int) -> int:
    return max(step, math.ceil(value / step) * step)


def _clamp(value: int, ceiling: int, what: str, shown: str, notes: dict[str, str]) -> int:
    """`value`, or `ceiling` with a note when the headroom would go above it."""
    if value <= ceiling:
        return value
    notes[what] += f"; that is above the {shown} the calls ran under, so kept at {shown}"
    return ceiling


def _suggest(
    name: str, value: int, applied: SandboxLimits, limits: dict[str, object], notes: dict[str, str]
) -> int:
    """Put `value` for the limit `name` in `limits`, in the manifest's units (its row's
    `text`), clamped to the value the calls ran under; return the value put."""
    spec = limit(name)
    ran_under = getattr(applied, spec.field)
    kept = _clamp(value, ran_under, name, spec.text(ran_under), notes)
    limits[name] = spec.text(kept)
    return kept


def declared_limits(declared: ManifestLimits) -> dict[str, object]:
    """The declared limits in manifest units (what a failed measurement leaves in place)."""
    values = ((spec, getattr(declared, spec.name)) for spec in LIMITS if spec.declared)
    return {spec.name: spec.text(value) for spec, value in values if value is not None}


def sized_limits(
    declared: ManifestLimits,
    applied: SandboxLimits,
    outcomes: Sequence[Outcome],
    notes: dict[str, str],
) -> dict[str, object]:
    """`memory`, `cpu`, `timeout` (and the declared `storage`) sized from `outcomes`.

    `applied` is what the calls ran under. Adds one note per value to `notes`.
    """
    limits = declared_limits(declared)
    ok = [o for o in outcomes if succeeded(o)]
    if not ok:
        failed = len(outcomes) - len(ok)
        notes["limits"] = (
            f"no call succeeded ({failed} of {len(outcomes)} failed), so there is nothing "
            "to size from: the declared limits are kept as they are"
        )
        return limits
    timeout = _timeout(ok, applied, limits, notes)
    _memory(ok, declared, applied, limits, notes)
    _cpu(ok, timeout, applied, limits, notes)
    return limits


def _timeout(
    ok: Sequence[Outcome],
    applied: SandboxLimits,
    limits: dict[str, object],
    notes: dict[str, str],
) -> int:
    slowest = max(o.usage.wall_ms for o in ok)
    timeout = _round_up(max(slowest * TIME_HEADROOM, _MIN_TIMEOUT_MS), 100)
    notes["timeout"] = (
        f"slowest of {len(ok)} calls took {slowest:.2f} ms; x{TIME_HEADROOM}, at least "
        f"{_MIN_TIMEOUT_MS} ms"
    )
    return _suggest("timeout", timeout, applied, limits, notes)


def _memory(
    ok: Sequence[Outcome],
    declared: ManifestLimits,
    applied: SandboxLimits,
    limits: dict[str, object],
    notes: dict[str, str],
) -> None:
    peak = max(o.usage.memory_bytes for o in ok)
    if peak <= 0:  # components: wasmtime-py does not expose their memories
        notes["memory"] = "kept as declared: the module's memory use could not be measured"
        return
    memory = _round_up(peak * HEADROOM, MiB)
    notes["memory"] = f"peak linear memory {peak:,} bytes x{HEADROOM} headroom"
    _suggest("memory", memory, applied, limits, notes)


def _cpu(
    ok: Sequence[Outcome],
    timeout_ms: int,
    applied: SandboxLimits,
    limits: dict[str, object],
    notes: dict[str, str],
) -> None:
    cpu_ms = max(o.usage.cpu_ms for o in ok)
    if cpu_ms <= 0:
        notes["cpu"] = "kept as declared: the backend reported no CPU time for the calls"
        return
    millicores = _round_up(cpu_ms * HEADROOM / timeout_ms * 1000, 10)
    notes["cpu"] = (
        f"largest call used {cpu_ms:.3g} ms of CPU; x{HEADROOM} headroom within the "
        f"{timeout_ms} ms timeout (a call may use cpu x timeout of CPU time)"
    )
    _suggest("cpu", millicores, applied, limits, notes)
