"""Which scanners run: the `sandbench.scanners` entry-point group.

Every scanner, built-in or not, is an entry point in that group whose value is a factory:
a callable that takes a `ScannerContext` and returns a `Scanner` whose `name` is the entry
point's name. sandbench declares its own in its pyproject.toml
(`[project.entry-points."sandbench.scanners"]`); a registry adds one by installing a
distribution that declares another, without forking (docs/scanners.md).

The built-ins run first, in `BUILTIN` order, then the others by name. A plugin that cannot
be loaded (its module does not import, its factory raises or returns no scanner of that
name) stops the scan with a one-line `ScannerPluginError` naming the plugin and its
distribution: a scan that silently left a check out would pass what it did not look at.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandbench.errors import ScannerPluginError

from ._support.advisories import advisory_source
from .bandit import BanditScanner
from .capabilities import CapabilityScanner
from .coverage import CoverageScanner
from .interface import Scanner
from .licenses import LicenseScanner
from .malware import MalwareScanner
from .manifest_lint import ManifestLintScanner
from .pip_audit import ImagePackages, PipAuditScanner
from .policy import ScanPolicy

__all__ = ["BUILTIN", "GROUP", "ScannerContext", "ScannerFactory", "load_scanners"]

GROUP = "sandbench.scanners"
BUILTIN = (
    "bandit",
    "pip-audit",
    "licenses",
    "capabilities",
    "manifest-lint",
    "malware",
    "coverage",
)


@dataclass(frozen=True)
class ScannerContext:
    """What a scanner factory may configure its scanner from: the scan policy, the
    advisory database the user chose (`--osv-url`, `--advisory-db`) and, in the gate, a
    container module's installed packages."""

    policy: ScanPolicy
    osv_url: str | None = None
    advisory_store: Path | None = None
    image_packages: ImagePackages | None = None


ScannerFactory = Callable[[ScannerContext], Scanner]


def load_scanners(context: ScannerContext) -> list[Scanner]:
    """One scanner from each entry point of `GROUP`, the built-ins first.

    Raises `ScannerPluginError` when a plugin cannot be loaded, when two distributions
    register the same name, or when a built-in is not registered (a stale install).
    """
    points = _entry_points()
    missing = [name for name in BUILTIN if name not in points]
    if missing:
        raise ScannerPluginError(
            missing[0],
            "sandbench",
            f"not registered in the {GROUP!r} entry points: reinstall sandbench "
            "(pip install sandbench, or pip install -e . in a checkout)",
        )
    order = [*BUILTIN, *sorted(set(points) - set(BUILTIN))]
    return [_load(points[name], context) for name in order]


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for point in importlib.metadata.entry_points(group=GROUP):
        if point.name in found:
            both = " and ".join(sorted((_dist(found[point.name]), _dist(point))))
            raise ScannerPluginError(point.name, both, "registered twice; uninstall one")
        found[point.name] = point
    return found


def _load(point: importlib.metadata.EntryPoint, context: ScannerContext) -> Scanner:
    dist = _dist(point)
    try:
        factory = point.load()
        scanner = factory(context)
    except Exception as exc:  # a plugin's own fault, whatever it is: reported in one line
        problem = (
            f"{point.value} failed: {type(exc).__name__}: {_first_line(exc)}; "
            f"fix or uninstall {dist.split()[0]}"
        )
        raise ScannerPluginError(point.name, dist, problem) from exc
    name = getattr(scanner, "name", None)
    if name != point.name or not callable(getattr(scanner, "scan", None)):
        raise ScannerPluginError(
            point.name,
            dist,
            f"{point.value} returned {type(scanner).__name__} (name {name!r}), not a "
            f"scanner named {point.name!r} with a scan(package) method; "
            f"fix or uninstall {dist.split()[0]}",
        )
    return scanner  # type: ignore[no-any-return]


def _dist(point: importlib.metadata.EntryPoint) -> str:
    dist = point.dist
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else "(no message)"


def bandit(context: ScannerContext) -> Scanner:
    """The built-in `bandit` scanner (see `BanditScanner`)."""
    return BanditScanner(skips=context.policy.bandit_skips)


def pip_audit(context: ScannerContext) -> Scanner:
    """The built-in `pip-audit` scanner, on the advisory database `advisory_source` picks
    (flag, environment, policy, local store)."""
    source = advisory_source(context.osv_url, context.advisory_store, context.policy.osv_url)
    return PipAuditScanner(
        osv_url=source.osv_url,
        store=source.store,
        max_age_days=context.policy.max_advisory_age_days,
        image_packages=context.image_packages,
    )


def licenses(context: ScannerContext) -> Scanner:
    """The built-in `licenses` scanner, with the policy's license rules."""
    return LicenseScanner(context.policy.licenses)


def capabilities(context: ScannerContext) -> Scanner:
    """The built-in `capabilities` scanner."""
    return CapabilityScanner()


def manifest_lint(context: ScannerContext) -> Scanner:
    """The built-in `manifest-lint` scanner, with the policy's ceilings."""
    return ManifestLintScanner(context.policy.ceilings)


def malware(context: ScannerContext) -> Scanner:
    """The built-in `malware` scanner."""
    return MalwareScanner()


def coverage(context: ScannerContext) -> Scanner:
    """The built-in `coverage` scanner."""
    return CoverageScanner()
