"""GuardDog's source-code threat rules over a module folder, run as an offline subprocess.

GuardDog 3.x (`guarddog pypi scan DIR --output-format json`) matches YARA rules against
every file of a folder. sandbench runs its `threat-*` rules, read from the installed
package, never its `capability-*` rules (they say a file can reach the network or start
a process, which the capability scanner and the manifest's permissions already judge).
Its metadata rules judge a registry's package record (maintainer e-mail domains,
typosquatting against the registry's most downloaded names, a linked repository) that a
module folder does not have, so they do not run.

Offline, with nothing inherited: the subprocess gets a clean environment (no proxy, token
or credential variable of the caller), a fresh HOME, proxies pointing at a closed loopback
port so that any request fails at once, and a copy of GuardDog's shipped top-package
lists stamped as fresh, so it does not try to refresh them at start-up. GuardDog applies
its own kernel sandbox (Landlock, network blocked) around the scan; where the kernel
lacks it, the scan runs without it and the summary says so.

Severity, per rule, from the rule's own metadata (`severity`, and `specificity`: how
rarely the pattern occurs in benign code) -- see `SEVERITY` and docs/scanners.md. One
finding per rule and file, at the rule's first match, with the number of matches.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

from sandbench.scanners.interface import Confidence, Finding, Severity, fingerprint

from .files import read_capped

__all__ = ["GuardDogRun", "guarddog_rules", "rule_severity", "run_guarddog"]

TIMEOUT_S = 300
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_STAGED_BYTES = 512 * 1024 * 1024  # a module's sources, never its data, come near this
# (GuardDog severity, specificity) -> ours. A low-specificity rule matches benign code
# often (reading `.env`, `os.getenv`), so it is reported but never fails a gate alone.
SEVERITY = {
    ("high", "high"): Severity.HIGH,
    ("high", "medium"): Severity.MEDIUM,
    ("medium", "high"): Severity.MEDIUM,
}
_META = re.compile(r'^\s*(description|severity|specificity)\s*=\s*"([^"]*)"', re.M)
_UNAVAILABLE = "sandbox is not available"
_CLOSED_PORT = "http://127.0.0.1:9"  # discard port: nothing listens, a request fails at once


class GuardDogRun:
    """What one GuardDog run gave: findings, files it could not read, and how it ran."""

    def __init__(
        self, findings: list[Finding], errors: int, sandboxed: bool, left_out: int = 0
    ) -> None:
        self.findings, self.errors, self.sandboxed = findings, errors, sandboxed
        self.left_out = left_out  # files not given to GuardDog: too big, or past the total


def _package_dir() -> Path | None:
    spec = importlib.util.find_spec("guarddog")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def guarddog_rules() -> dict[str, tuple[str, str, str]]:
    """The installed GuardDog's threat rules: name -> (severity, specificity, description).

    Empty when GuardDog is not installed.
    """
    package = _package_dir()
    if package is None:
        return {}
    rules = {}
    for path in sorted((package / "analyzer" / "sourcecode").glob("threat-*.yar")):
        text = path.read_text(encoding="utf-8")
        meta = {m.group(1): m.group(2) for m in _META.finditer(text)}
        rules[path.stem] = (
            meta.get("severity", "low"),
            meta.get("specificity", "low"),
            meta.get("description", ""),
        )
    return rules


def rule_severity(rule: str) -> Severity:
    """Our severity for a GuardDog rule (low for a rule this version does not describe)."""
    severity, specificity, _ = guarddog_rules().get(rule, ("low", "low", ""))
    if severity == "low":
        return Severity.INFO
    return SEVERITY.get((severity, specificity), Severity.LOW)


def _fresh_caches(package: Path, into: Path) -> None:
    """GuardDog's shipped top-package lists, stamped as downloaded now (no refresh)."""
    resources = package / "analyzer" / "metadata" / "resources"
    for path in resources.iterdir():
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            data["downloaded_timestamp"] = int(time.time())
            (into / path.name).write_text(json.dumps(data), encoding="utf-8")
        elif path.is_file():
            (into / path.name).write_bytes(path.read_bytes())


def _environment(home: Path, cache_dir: Path) -> dict[str, str]:
    env = {
        "PATH": os.defpath,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GUARDDOG_TOP_PACKAGES_CACHE_LOCATION": str(cache_dir),
        "GUARDDOG_PARALLELISM": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[name] = _CLOSED_PORT
    return env


def _invoke(root: Path, env: dict[str, str], sandbox: bool) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "guarddog", "pypi", "scan", str(root)]
    command += [f"--rules={rule}" for rule in guarddog_rules()]
    command += ["--output-format", "json", "--sandbox" if sandbox else "--no-sandbox"]
    return subprocess.run(  # noqa: S603 -- fixed command, our interpreter, no shell
        command, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, check=False
    )


def _stage(root: Path, files: list[Path], into: Path) -> int:
    """Copy the module's regular files (no links, nothing over `MAX_FILE_BYTES`, at most
    `MAX_STAGED_BYTES` in all) into `into`, so GuardDog never follows a module's link to a
    host file. Returns the number of files left out."""
    left_out, total = 0, 0
    for path in files:
        try:
            data = read_capped(path, MAX_FILE_BYTES)
        except (OSError, ValueError):
            left_out += 1
            continue
        total += len(data)
        if total > MAX_STAGED_BYTES:
            left_out += 1
            continue
        target = into / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return left_out


def run_guarddog(root: Path, files: list[Path]) -> GuardDogRun | str:
    """GuardDog's threat rules over `files` (regular files under `root`, as
    `files.module_files` lists them); a string saying why when it could not run."""
    package = _package_dir()
    if package is None or not guarddog_rules():
        return "GuardDog is not installed (pip install 'guarddog>=3.2,<4')"
    with tempfile.TemporaryDirectory(prefix="sandbench-guarddog-") as tmp:
        home, cache_dir, tree = Path(tmp, "home"), Path(tmp, "cache"), Path(tmp, "module")
        for folder in (home, cache_dir, tree):
            folder.mkdir()
        _fresh_caches(package, cache_dir)
        left_out = _stage(root, files, tree)
        env = _environment(home, cache_dir)
        try:
            done = _invoke(tree, env, sandbox=True)
            sandboxed = _UNAVAILABLE not in done.stderr
            if not sandboxed:
                done = _invoke(tree, env, sandbox=False)
        except subprocess.TimeoutExpired:
            return f"GuardDog did not finish within {TIMEOUT_S} s"
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"GuardDog failed (exit {done.returncode}): {last[:300]}"
    errors = len(report.get("errors") or {})
    return GuardDogRun(_findings(report), errors, sandboxed, left_out)


def _findings(report: dict[str, Any]) -> list[Finding]:
    per_file: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for rule, matches in (report.get("results") or {}).items():
        if not isinstance(matches, list):
            continue
        for match in matches:
            path, _, line = str(match.get("location", "")).rpartition(":")
            if path and line.isdigit():
                per_file[(rule, path)].append((int(line), str(match.get("match", ""))))
    return [_finding(rule, path, hits) for (rule, path), hits in sorted(per_file.items())]


def _finding(rule: str, path: str, hits: list[tuple[int, str]]) -> Finding:
    hits.sort()
    line, text = hits[0]
    description = guarddog_rules().get(rule, ("", "", rule))[2] or rule
    more = f" ({len(hits)} matches)" if len(hits) > 1 else ""
    context = "\n".join(sorted({t.strip() for _, t in hits}))
    return Finding(
        scanner="malware",
        rule_id=rule,
        severity=rule_severity(rule),
        confidence=Confidence.MEDIUM,
        message=f"GuardDog: {description}: {text.strip()[:80]!r}{more}",
        path=Path(path),
        line=max(line, 1),
        fingerprint=fingerprint("malware", rule, path, context),
        remediation="remove it, or explain it in a policy ignore if it is intended",
    )
