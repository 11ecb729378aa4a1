"""Dependency vulnerabilities: pip-audit, against an OSV API, failing closed.

The module's declared dependencies are read by `sandbench.scanners._support.dependencies` (pip's own
requirements grammar, `-r` / `-c` followed inside the module, `pyproject.toml`, PEP 751 and
uv / Poetry / PDM / Pipenv locks, `setup.cfg`, literal `setup.py`); for a container module, the pipeline also passes the
distributions installed in its image (`ImagePackages`: the scanner never opens an image
itself). The pinned ones are audited together, in one run, with
`pip-audit --no-deps --disable-pip -s osv --osv-url URL`, so nothing is resolved or
installed. The URL comes from `advisories.advisory_source` (flag, then
`SANDBENCH_OSV_URL`, then the policy's `osv_url`), or else a loopback server over the local
store that `sandbench advisories import` fills.

Fail closed: pip-audit's default service prints "No known vulnerabilities found" and exits
0 when it cannot reach its database. Here, no database, an unreachable one, a pip-audit
that exits with an error or skips a dependency, or a local server that did not get one
query per dependency all make the result `skipped`, with the reason. So does an image
whose packages could not be listed, and so does any declaration that could not be read
(the dependencies that could be read are still audited and reported).

pip-audit itself refuses an unpinned requirement under `--no-deps` ("not pinned to an
exact version"); here a range is a finding of its own and the rest is audited. A pin in a
constraints file (`-c`) is audited too: without resolving, nothing says the package is not
pulled in, and a requirement that a constraint pins is not reported as unpinned.

| rule | severity | when |
|---|---|---|
| advisory id (`PYSEC-…`, `GHSA-…`) | from the record, else high | a pinned dependency, or a distribution in the image (the finding's path is its `.dist-info`), is affected |
| `dependency-unreadable` | high | a declaration cannot be read (bad line, `-r` leading out of the module or in a loop, unparsable TOML, dynamic dependencies): the scan is not complete |
| `dependency-direct-reference` | medium | `name @ URL`, `-e`, a path or a lock entry without a version: what it installs has no version to audit |
| `dependency-unpinned` | low | a requirement admits more than one version (`>=`, `~=`, `==1.*`, none), so it cannot be audited exactly |
| `advisory-database-stale` | medium | the newest record in the local store was modified longer ago than the policy's `max_advisory_age_days` |
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from sandbench.errors import ScanInputError
from sandbench.manifests import ModulePackage

from ._support.advisories import AdvisoryStore, OsvServer, canonical_name, osv_server
from ._support.bounded import run_tool
from ._support.dependencies import Declared, Dependency, Unreadable, declared_dependencies
from .interface import (
    AdvisoryDatabase,
    Confidence,
    Finding,
    ScanResult,
    Severity,
    fingerprint,
)

__all__ = ["ImagePackages", "PipAuditScanner"]

NAME = "pip-audit"
TIMEOUT_S = 300
_SEVERITY = {
    "CRITICAL": Severity.CRITICAL,
    "HIGH": Severity.HIGH,
    "MODERATE": Severity.MEDIUM,
    "MEDIUM": Severity.MEDIUM,
    "LOW": Severity.LOW,
}


@dataclass(frozen=True)
class ImagePackages:
    """The distributions installed in a container module's image, or why they are unknown.

    `packages` holds `(name, version, path)` records, `path` being the `.dist-info` folder
    in the image; `unreadable` is set, and `packages` empty, when the image could not be
    read: the dependency scan is then not done.
    """

    image: str
    packages: tuple[tuple[str, str, str], ...] = ()
    unreadable: str | None = None


Key = tuple[str, str]


class PipAuditScanner:
    """See the module docstring. `osv_url` wins over `store`; with neither, it skips."""

    name = NAME

    def __init__(
        self,
        *,
        osv_url: str | None = None,
        store: Path | None = None,
        max_age_days: float | None = None,
        image_packages: ImagePackages | None = None,
    ) -> None:
        self.osv_url = osv_url
        self.store_path = store
        self.max_age_days = max_age_days
        self.image = image_packages

    def scan(self, package: ModulePackage) -> ScanResult:
        """See `Scanner.scan`."""
        declared = declared_dependencies(package.root)
        noted = _declaration_findings(declared)
        incomplete = _incomplete(declared.unreadable)
        pinned: dict[Key, Dependency] = {
            (d.name, d.version): d for d in declared.deps if d.version is not None
        }
        image = self.image
        if image is not None and image.unreadable is not None:
            reason = f"the packages installed in image {image.image} could not be listed: "
            return ScanResult(
                scanner=NAME, findings=tuple(noted), skipped_reason=reason + image.unreadable
            )
        installed = _installed(image)
        wanted = sorted(set(pinned) | set(installed))
        if not wanted:
            return ScanResult(
                scanner=NAME,
                findings=tuple(noted),
                summary="no pinned dependencies to audit",
                skipped_reason=incomplete,
            )
        with ExitStack() as stack:
            try:
                url, database, server, store = self._endpoint(stack)
            except (_NoDatabase, ScanInputError) as exc:
                return ScanResult(scanner=NAME, findings=tuple(noted), skipped_reason=str(exc))
            result = _audit(wanted, url, server)
            if isinstance(result, str):
                return ScanResult(
                    scanner=NAME, findings=tuple(noted), skipped_reason=result, database=database
                )
            places = _Places(pinned, installed, image.image if image else "")
            vulns = list(_findings(result, places, lambda i: _severity(store, i)))
        stale = self._stale(database)
        summary = f"{len(pinned)} pinned dependencies audited"
        if image is not None:
            summary += f", with {len(image.packages)} distributions installed in {image.image}"
        if declared.not_for_targets:  # said, not silently dropped
            summary += f"; {declared.not_for_targets} left out by markers no target matches"
        return ScanResult(
            scanner=NAME,
            findings=(*vulns, *stale, *noted),
            summary=summary,
            database=database,
            skipped_reason=incomplete,
        )

    def _endpoint(
        self, stack: ExitStack
    ) -> tuple[str, AdvisoryDatabase, OsvServer | None, AdvisoryStore | None]:
        if self.osv_url:
            remote = AdvisoryDatabase(kind="remote", location=self.osv_url)
            return self.osv_url, remote, None, None
        if self.store_path is None or not self.store_path.exists():
            raise _NoDatabase(
                f"no advisory database at {self.store_path}: run `sandbench advisories import "
                "PATH`, or give an OSV API with --osv-url, SANDBENCH_OSV_URL or the policy's osv_url"
            )
        store = AdvisoryStore(self.store_path)
        server = stack.enter_context(osv_server(store))
        return server.url, store.describe(), server, store

    def _stale(self, database: AdvisoryDatabase) -> list[Finding]:
        # Judged by the newest record, not the import: a 2024 export imported today is old.
        if database.kind != "local" or self.max_age_days is None:
            return []
        newest = database.newest_modified
        if newest is None:
            age = "its records carry no `modified` date, so its age is unknown"
        else:
            days = (datetime.now(UTC) - newest).total_seconds() / 86400
            if days <= self.max_age_days:
                return []
            age = f"its newest record was modified {days:.0f} days ago ({newest:%Y-%m-%d})"
        return [
            Finding(
                scanner=NAME,
                rule_id="advisory-database-stale",
                severity=Severity.MEDIUM,
                message=f"the advisory store is stale: {age} (policy: at most "
                f"{self.max_age_days:g} days)",
                fingerprint=fingerprint(NAME, "advisory-database-stale", None, database.location),
                remediation="import a fresh OSV export with `sandbench advisories import`",
            )
        ]


def _severity(store: AdvisoryStore | None, advisory_id: str) -> Severity:
    # The local store has the whole record; pip-audit's JSON drops its severity.
    record = store.record(advisory_id) if store is not None else None
    label = ((record or {}).get("database_specific") or {}).get("severity")
    return _SEVERITY.get(str(label).upper(), Severity.HIGH)


class _NoDatabase(Exception):
    pass


def _incomplete(unreadable: list[Unreadable]) -> str | None:
    """The skipped reason when declarations could not be read, else None."""
    if not unreadable:
        return None
    first = unreadable[0]
    more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
    return f"{first.where}: {first.reason}{more}; the dependency scan is not complete"


def _declaration_findings(declared: Declared) -> list[Finding]:
    """Unreadable declarations, direct references and ranges, as findings."""
    pinned_names = {d.name for d in declared.deps if d.version is not None}
    found = [
        _declaration(
            "dependency-unreadable", Severity.HIGH, u.path, u.line, u.text or u.path,
            f"{u.text or u.path!r} cannot be read: {u.reason}; what it declares is not audited",
            "write it as pip / PEP 508 reads it, inside the module",
        )
        for u in declared.unreadable
    ]  # fmt: skip
    for dep in declared.deps:
        if dep.direct:
            found.append(_declaration(
                "dependency-direct-reference", Severity.MEDIUM, dep.path, dep.line, dep.spec,
                f"{dep.spec!r} installs from a URL, path or checkout: it has no version to audit",
                "depend on a released version (name==version) from the index",
            ))  # fmt: skip
        elif dep.version is None and not dep.constraint and dep.name not in pinned_names:
            found.append(_declaration(
                "dependency-unpinned", Severity.LOW, dep.path, dep.line, dep.name,
                f"{dep.spec!r} is not pinned (name==version), so it cannot be audited exactly",
                "pin it, e.g. with `pip-compile` or `uv pip compile`",
            ))  # fmt: skip
    return found


def _declaration(
    rule: str, severity: Severity, path: str, line: int | None, subject: str, message: str,
    remedy: str,
) -> Finding:  # fmt: skip
    return Finding(
        scanner=NAME,
        rule_id=rule,
        severity=severity,
        message=message,
        path=Path(path),
        line=line,
        fingerprint=fingerprint(NAME, rule, path, subject),
        remediation=remedy,
    )


def _installed(image: ImagePackages | None) -> dict[Key, list[str]]:
    """(name, version) -> the `.dist-info` paths in the image that hold it."""
    found: dict[Key, list[str]] = {}
    for name, version, path in image.packages if image is not None else ():
        found.setdefault((canonical_name(name), version), []).append(path)
    return found


def _layers(deps: list[Key]) -> list[list[Key]]:
    """`deps` split so that no name repeats in one list: pip-audit refuses a requirements
    file that pins one package twice ("duplicate requirements"), while a module may pin two
    versions (in two files, extras or markers). Usually one list."""
    layers: list[list[Key]] = []
    for key in deps:
        free = next((layer for layer in layers if all(k[0] != key[0] for k in layer)), None)
        if free is None:
            free = []
            layers.append(free)
        free.append(key)
    return layers


def _audit(deps: list[Key], url: str, server: OsvServer | None) -> dict[str, Any] | str:
    """pip-audit's JSON report over every layer of `deps`, or why there is none."""
    merged: list[dict[str, Any]] = []
    for layer in _layers(deps):
        report = _audit_once(layer, url)
        if isinstance(report, str):
            return report
        merged += report.get("dependencies", [])
    if server is not None and len(server.queries) < len(deps):
        return f"the advisory server got {len(server.queries)} queries for {len(deps)} dependencies"
    return {"dependencies": merged}


def _audit_once(deps: list[Key], url: str) -> dict[str, Any] | str:
    """pip-audit's JSON report for `deps` (no name twice), or why there is none."""
    with tempfile.TemporaryDirectory(prefix="sandbench-pip-audit-") as tmp:
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text("".join(f"{name}=={version}\n" for name, version in deps))
        out = Path(tmp) / "report.json"
        command = [
            sys.executable, "-m", "pip_audit", "-r", str(reqs), "--no-deps", "--disable-pip",
            "-s", "osv", "--osv-url", url, "-f", "json", "-o", str(out),
            "--cache-dir", str(Path(tmp) / "cache"), "--progress-spinner", "off",
        ]  # fmt: skip
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        try:
            done = run_tool(command, timeout=TIMEOUT_S, env=env)
        except subprocess.TimeoutExpired as exc:
            return f"pip-audit did not finish in {exc.timeout:.1f} s (its time budget)"
        return _read_report(done, out, deps)


def _read_report(
    done: subprocess.CompletedProcess[str], out: Path, deps: list[Key]
) -> dict[str, Any] | str:
    last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
    if done.returncode not in (0, 1) or not out.exists():
        return f"pip-audit could not query the advisory database: {last}"
    try:
        report: dict[str, Any] = json.loads(out.read_text())
    except json.JSONDecodeError:
        return f"pip-audit wrote no readable report: {last}"
    skipped = [d for d in report.get("dependencies", []) if d.get("skip_reason")]
    if skipped:
        first = skipped[0]
        return f"pip-audit skipped {len(skipped)} dependencies; {first['name']}: {first['skip_reason']}"
    if len(report.get("dependencies", [])) < len(deps):
        return (
            f"pip-audit reported {len(report.get('dependencies', []))} of {len(deps)} dependencies"
        )
    return report


@dataclass(frozen=True)
class _Places:
    """Where each audited (name, version) came from: a module file, the image, or both."""

    pinned: dict[Key, Dependency]
    installed: dict[Key, list[str]]
    image: str

    def of(self, key: Key) -> Iterator[tuple[str | None, int | None, str]]:
        """(path, line, where) for each place; `where` is empty for a module file."""
        dep = self.pinned.get(key) or self._spelled_otherwise(key)
        if dep is not None or key not in self.installed:
            yield (dep.path, dep.line, "") if dep else (None, None, "")
        for path in self.installed.get(key, []):
            yield path, None, f" installed in image {self.image} ({path})"

    def _spelled_otherwise(self, key: Key) -> Dependency | None:
        """The pin pip-audit reports under its normalized version (`==v2.19` as 2.19)."""
        name, version = key
        for (pinned_name, pinned_version), dep in self.pinned.items():
            if pinned_name == name and _same_version(pinned_version, version):
                return dep
        return None


def _same_version(one: str, other: str) -> bool:
    try:
        return Version(one) == Version(other)
    except InvalidVersion:
        return False


def _findings(
    report: dict[str, Any], places: _Places, severity: Callable[[str], Severity]
) -> Iterator[Finding]:
    for entry in report.get("dependencies", []):
        name, version = canonical_name(entry["name"]), str(entry.get("version"))
        for vuln in entry.get("vulns", []):
            fixes = vuln.get("fix_versions") or []
            aliases = ", ".join(sorted(vuln.get("aliases") or []))  # pip-audit: set order
            for path, line, where in places.of((name, version)):
                yield Finding(
                    scanner=NAME,
                    rule_id=vuln["id"],
                    severity=severity(vuln["id"]),
                    confidence=Confidence.HIGH,
                    message=f"{name} {version}{where} is affected by {vuln['id']}"
                    + (f" ({aliases})" if aliases else ""),
                    path=Path(path) if path else None,
                    line=line,
                    fingerprint=fingerprint(NAME, vuln["id"], path, name),
                    remediation=_remedy(name, fixes, in_image=bool(where)),
                )


def _remedy(name: str, fixes: list[str], *, in_image: bool) -> str:
    if not fixes:
        return "no fix yet"
    return f"upgrade {name} to {fixes[0]} or later" + (" in the image" if in_image else "")
