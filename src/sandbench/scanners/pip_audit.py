"""Dependency vulnerabilities: pip-audit, against an OSV API, failing closed.

The module's pinned dependencies come from `requirements*.txt`, `pyproject.toml`
(`[project].dependencies`) and `pylock.toml` (`[[packages]]`); for a container module,
the pipeline also passes the distributions installed in its image (`ImagePackages`: the
scanner never opens an image itself). They are audited together, in one run, with
`pip-audit --no-deps --disable-pip -s osv --osv-url URL`, so nothing is resolved or
installed. The URL is a configured OSV API, or else a loopback server over the local
store that `sandbench advisories import` fills.

Fail closed: pip-audit's default service prints "No known vulnerabilities found" and exits
0 when it cannot reach its database. Here, no database, an unreachable one, a pip-audit
that exits with an error or skips a dependency, or a local server that did not get one
query per dependency all make the result `skipped`, with the reason. So does an image
whose packages could not be listed (no engine, no image, an unreadable image).

| rule | severity | when |
|---|---|---|
| advisory id (`PYSEC-…`, `GHSA-…`) | from the record, else high | a pinned dependency, or a distribution in the image (the finding's path is its `.dist-info`), is affected |
| `dependency-unpinned` | low | a requirement is not `name==version`, so it cannot be audited |
| `advisory-database-stale` | medium | the local store is older than the policy's `max_advisory_age_days` |
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from sandbench.manifests import ModulePackage

from .advisories import AdvisoryStore, OsvServer, canonical_name, osv_server
from .bounded import run_tool
from .files import module_files, read_capped
from .interface import (
    AdvisoryDatabase,
    Confidence,
    Finding,
    ScanInputError,
    ScanResult,
    Severity,
    fingerprint,
)

__all__ = ["Dependency", "ImagePackages", "PipAuditScanner", "pinned_dependencies"]

NAME = "pip-audit"
MAX_DEPENDENCY_FILE_BYTES = 4 * 1024 * 1024
TIMEOUT_S = 300
_SEVERITY = {
    "CRITICAL": Severity.CRITICAL,
    "HIGH": Severity.HIGH,
    "MODERATE": Severity.MEDIUM,
    "MEDIUM": Severity.MEDIUM,
    "LOW": Severity.LOW,
}


@dataclass(frozen=True)
class Dependency:
    """A requirement as written in a module file: pinned when `version` is set."""

    name: str
    version: str | None
    spec: str
    path: str
    line: int | None


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


def _text(file: Path) -> str:
    return read_capped(file, MAX_DEPENDENCY_FILE_BYTES).decode("utf-8")


def _from_requirement(text: str, path: str, line: int | None) -> Dependency | None:
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    specs = list(req.specifier)
    pinned = len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version
    version = specs[0].version if pinned else None
    return Dependency(canonical_name(req.name), version, text.strip(), path, line)


def _requirements_file(file: Path, rel: str) -> Iterator[Dependency]:
    for number, raw in enumerate(_text(file).splitlines(), 1):
        text = raw.split(" #", 1)[0].strip()
        if text and not text.startswith(("#", "-")):
            dep = _from_requirement(text, rel, number)
            if dep is not None:
                yield dep


def _pyproject(file: Path, rel: str) -> Iterator[Dependency]:
    data = tomllib.loads(_text(file))
    for text in data.get("project", {}).get("dependencies", []):
        dep = _from_requirement(str(text), rel, None)
        if dep is not None:
            yield dep


def _pylock(file: Path, rel: str) -> Iterator[Dependency]:
    data = tomllib.loads(_text(file))
    for package in data.get("packages", []):
        name, version = package.get("name"), package.get("version")
        if isinstance(name, str) and isinstance(version, str):
            yield Dependency(canonical_name(name), version, f"{name}=={version}", rel, None)


def pinned_dependencies(root: Path) -> list[Dependency]:
    """Every requirement in the module's dependency files, pinned or not.

    Raises `ValueError` naming the file when a TOML file does not parse.
    """
    deps: list[Dependency] = []
    for file in module_files(root):
        rel = file.relative_to(root).as_posix()
        try:
            if file.name.startswith("requirements") and file.suffix == ".txt":
                deps.extend(_requirements_file(file, rel))
            elif file.name == "pyproject.toml":
                deps.extend(_pyproject(file, rel))
            elif file.name == "pylock.toml" or (
                file.name.startswith("pylock.") and file.suffix == ".toml"
            ):
                deps.extend(_pylock(file, rel))
        except (tomllib.TOMLDecodeError, ValueError, OSError) as exc:
            raise ValueError(f"{rel}: cannot parse: {exc}") from exc
    return deps


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
        try:
            deps = pinned_dependencies(package.root)
        except ValueError as exc:
            return ScanResult(scanner=NAME, skipped_reason=str(exc))
        unpinned = [_unpinned(d) for d in deps if d.version is None]
        pinned: dict[Key, Dependency] = {
            (d.name, d.version): d for d in deps if d.version is not None
        }
        image = self.image
        if image is not None and image.unreadable is not None:
            reason = f"the packages installed in image {image.image} could not be listed: "
            return ScanResult(
                scanner=NAME, findings=tuple(unpinned), skipped_reason=reason + image.unreadable
            )
        installed = _installed(image)
        wanted = sorted(set(pinned) | set(installed))
        if not wanted:
            return ScanResult(
                scanner=NAME, findings=tuple(unpinned), summary="no pinned dependencies to audit"
            )
        with ExitStack() as stack:
            try:
                url, database, server, store = self._endpoint(stack)
            except (_NoDatabase, ScanInputError) as exc:
                return ScanResult(scanner=NAME, findings=tuple(unpinned), skipped_reason=str(exc))
            result = _audit(wanted, url, server)
            if isinstance(result, str):
                return ScanResult(
                    scanner=NAME, findings=tuple(unpinned), skipped_reason=result, database=database
                )
            places = _Places(pinned, installed, image.image if image else "")
            vulns = list(_findings(result, places, lambda i: _severity(store, i)))
        stale = self._stale(database)
        summary = f"{len(pinned)} pinned dependencies audited"
        if image is not None:
            summary += f", with {len(image.packages)} distributions installed in {image.image}"
        return ScanResult(
            scanner=NAME,
            findings=(*vulns, *stale, *unpinned),
            summary=summary,
            database=database,
        )

    def _endpoint(
        self, stack: ExitStack
    ) -> tuple[str, AdvisoryDatabase, OsvServer | None, AdvisoryStore | None]:
        if self.osv_url:
            remote = AdvisoryDatabase(kind="remote", location=self.osv_url)
            return self.osv_url, remote, None, None
        if self.store_path is None or not self.store_path.exists():
            raise _NoDatabase(
                "no advisory database: run `sandbench advisories import PATH` "
                "or set SANDBENCH_OSV_URL"
            )
        store = AdvisoryStore(self.store_path)
        server = stack.enter_context(osv_server(store))
        return server.url, store.describe(), server, store

    def _stale(self, database: AdvisoryDatabase) -> list[Finding]:
        imported = database.imported_at
        if imported is None or self.max_age_days is None:
            return []
        days = (datetime.now(UTC) - imported).total_seconds() / 86400
        if days <= self.max_age_days:
            return []
        return [
            Finding(
                scanner=NAME,
                rule_id="advisory-database-stale",
                severity=Severity.MEDIUM,
                message=f"the advisory store was imported {days:.0f} days ago "
                f"(policy: at most {self.max_age_days})",
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


def _unpinned(dep: Dependency) -> Finding:
    return Finding(
        scanner=NAME,
        rule_id="dependency-unpinned",
        severity=Severity.LOW,
        message=f"{dep.spec!r} is not pinned (name==version), so it cannot be audited",
        path=Path(dep.path),
        line=dep.line,
        fingerprint=fingerprint(NAME, "dependency-unpinned", dep.path, dep.name),
        remediation="pin it, e.g. with `pip-compile` or `uv pip compile`",
    )


def _installed(image: ImagePackages | None) -> dict[Key, list[str]]:
    """(name, version) -> the `.dist-info` paths in the image that hold it."""
    found: dict[Key, list[str]] = {}
    for name, version, path in image.packages if image is not None else ():
        found.setdefault((canonical_name(name), version), []).append(path)
    return found


def _audit(deps: list[Key], url: str, server: OsvServer | None) -> dict[str, Any] | str:
    """pip-audit's JSON report, or why there is none."""
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
        return _read_report(done, out, deps, server)


def _read_report(
    done: subprocess.CompletedProcess[str],
    out: Path,
    deps: list[Key],
    server: OsvServer | None,
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
    if server is not None and len(server.queries) < len(deps):
        return f"the advisory server got {len(server.queries)} queries for {len(deps)} dependencies"
    return report


@dataclass(frozen=True)
class _Places:
    """Where each audited (name, version) came from: a module file, the image, or both."""

    pinned: dict[Key, Dependency]
    installed: dict[Key, list[str]]
    image: str

    def of(self, key: Key) -> Iterator[tuple[str | None, int | None, str]]:
        """(path, line, where) for each place; `where` is empty for a module file."""
        dep = self.pinned.get(key)
        if dep is not None or key not in self.installed:
            yield (dep.path, dep.line, "") if dep else (None, None, "")
        for path in self.installed.get(key, []):
            yield path, None, f" installed in image {self.image} ({path})"


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
