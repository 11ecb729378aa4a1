"""Manifest lint: the CSP, the permissions and the limits of `module.json`.

| rule | severity | when |
|---|---|---|
| `csp-unsafe-inline` | high | a directive allows `'unsafe-inline'` |
| `csp-unsafe-eval` | high | a directive allows `'unsafe-eval'` (or `'wasm-unsafe-eval'`: medium) |
| `csp-wildcard-source` | high / medium | a source is `*` (high) or `*.host` / `scheme://*` (medium) |
| `csp-scheme-source` | medium | a bare scheme source (`data:`, `https:`, `http:`, `blob:`) allows any origin of it |
| `csp-host-not-permitted` | medium | a `connect-src` host that no `api:external:` permission covers |
| `permission-not-in-csp` | low | an `api:external:` host missing from a declared `connect-src` |
| `wildcard-permission` | high / medium | a permission with target `*` (high) or `*.host` (medium) |
| `private-address-permission` | high | an `api:external:` host that names the gate machine or its network: `localhost` (and `*.localhost`), a cloud metadata name (`metadata.google.internal`, ...), or a loopback, private, link-local, multicast or unspecified address in any spelling (`127.1`, `2130706433`, `0x7f.0.0.1`); no DNS is asked |
| `limit-above-ceiling` | medium | a declared limit above the policy's ceiling (it will be cut down) |
| `limit-not-enforced` | low | a declared limit that no backend enforces for the module's `runtime.abi` (`files` for components) |
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from sandbench.hostapi.addresses import private_reason
from sandbench.manifests import (
    LIMITS,
    MANIFEST_NAME,
    Manifest,
    ModulePackage,
    Resource,
    format_bytes,
    not_enforced,
)

from .interface import Finding, ScanResult, Severity, fingerprint
from .policy import Ceilings

__all__ = ["ManifestLintScanner"]

NAME = "manifest-lint"
_SCHEMES = ("data:", "https:", "http:", "blob:", "filesystem:", "ws:", "wss:")


def _finding(rule: str, severity: Severity, message: str, subject: str) -> Finding:
    return Finding(
        scanner=NAME,
        rule_id=rule,
        severity=severity,
        message=message,
        path=Path(MANIFEST_NAME),
        fingerprint=fingerprint(NAME, rule, MANIFEST_NAME, subject),
    )


def _host(source: str) -> str | None:
    """The host a CSP source names, or None for keywords and bare schemes."""
    if source.startswith("'") or source in _SCHEMES or source == "*":
        return None
    parts = urlsplit(source if "://" in source else f"//{source}")
    return (parts.hostname or "").lower() or None


def _covers(pattern: str, host: str) -> bool:
    pattern = pattern.split(":", 1)[0]
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


class ManifestLintScanner:
    """See the module docstring."""

    name = NAME

    def __init__(self, ceilings: Ceilings | None = None) -> None:
        self.ceilings = ceilings or Ceilings()

    def scan(self, package: ModulePackage) -> ScanResult:
        """See `Scanner.scan`."""
        manifest = package.manifest
        findings = (
            *_csp(manifest),
            *_connect(manifest),
            *_permissions(manifest),
            *_limits(manifest, self.ceilings),
            *_unenforced(manifest),
        )
        return ScanResult(scanner=NAME, findings=tuple(findings), summary="module.json linted")


def _csp(manifest: Manifest) -> Iterator[Finding]:
    for directive, value in manifest.security.csp.items():
        for source in value.split():
            low = source.lower()
            where = f"{directive} {source}"
            if low == "'unsafe-inline'":
                yield _finding("csp-unsafe-inline", Severity.HIGH, f"CSP {where}", where)
            elif low in ("'unsafe-eval'", "'wasm-unsafe-eval'"):
                severity = Severity.HIGH if low == "'unsafe-eval'" else Severity.MEDIUM
                yield _finding("csp-unsafe-eval", severity, f"CSP {where}", where)
            elif low == "*" or "*" in low:
                severity = Severity.HIGH if low == "*" else Severity.MEDIUM
                yield _finding(
                    "csp-wildcard-source", severity, f"CSP {where}: a wildcard source", where
                )
            elif low in _SCHEMES:
                yield _finding(
                    "csp-scheme-source",
                    Severity.MEDIUM,
                    f"CSP {where} allows any {low} source; name the hosts",
                    where,
                )


def _connect(manifest: Manifest) -> Iterator[Finding]:
    sources = manifest.security.csp.get("connect-src")
    api = [p.target for p in manifest.security.permissions if p.resource is Resource.API]
    if sources is None:
        return
    hosts = [h for h in (_host(s) for s in sources.split()) if h]
    for host in hosts:
        if not any(_covers(pattern, host) for pattern in api):
            yield _finding(
                "csp-host-not-permitted",
                Severity.MEDIUM,
                f"connect-src names {host} but no api:external permission covers it",
                f"connect-src {host}",
            )
    for pattern in api:
        if not any(_covers(pattern, host) for host in hosts):
            yield _finding(
                "permission-not-in-csp",
                Severity.LOW,
                f"api:external:{pattern} is granted but connect-src does not name it",
                f"api:external:{pattern}",
            )


def _permissions(manifest: Manifest) -> Iterator[Finding]:
    for perm in manifest.security.permissions:
        if perm.is_wildcard:
            severity = Severity.HIGH if perm.target == "*" else Severity.MEDIUM
            yield _finding(
                "wildcard-permission",
                severity,
                f"permission {perm} grants more than one named {perm.resource.value} target",
                str(perm),
            )
        host = perm.target.rpartition(":")[0] if perm.target.count(":") == 1 else perm.target
        reason = private_reason(host) if perm.resource is Resource.API else None
        if reason is not None:
            yield _finding(
                "private-address-permission",
                Severity.HIGH,
                f"permission {perm} names a {reason} address: a module must not reach the "
                "machine it is checked on; sandbench refuses it unless the operator pins the "
                "name with --resolve",
                str(perm),
            )


def _limits(manifest: Manifest, ceilings: Ceilings) -> Iterator[Finding]:
    limits = manifest.security.limits
    per_minute = limits.network.per_second * 60 if limits.network else None
    checks = (
        *(
            (spec.name, getattr(limits, spec.name), getattr(ceilings, spec.field), spec.unit)
            for spec in LIMITS
            if spec.declared
        ),
        ("network", per_minute, ceilings.network_per_minute, "requests/min"),
    )
    for name, declared, ceiling, unit in checks:
        if declared is not None and declared > ceiling:
            yield _finding(
                "limit-above-ceiling",
                Severity.MEDIUM,
                f"security.limits.{name} is {_shown(declared, unit)}, above the ceiling of "
                f"{_shown(ceiling, unit)}; it will be cut down",
                f"limits.{name}",
            )


def _unenforced(manifest: Manifest) -> Iterator[Finding]:
    """A declared limit that no backend enforces for the module's `runtime.abi`."""
    abi = getattr(manifest.runtime, "abi", None)
    for spec, why in not_enforced(abi):
        if getattr(manifest.security.limits, spec.name) is not None:
            yield _finding(
                "limit-not-enforced",
                Severity.LOW,
                f"security.limits.{spec.name} is declared but {why}",
                f"limits.{spec.name}",
            )


def _shown(value: float, unit: str) -> str:
    return format_bytes(int(value)) if unit == "bytes" else f"{value:g} {unit}"
