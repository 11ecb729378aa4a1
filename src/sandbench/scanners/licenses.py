"""License compliance: the module's SPDX expression and its dependencies' licenses.

Dependencies' licenses come from the `*.dist-info/METADATA` files bundled in the module
(`License-Expression`, else `License`, else `License ::` classifiers). A declared
dependency with no bundled metadata has an unknown license: nothing offline says more.

An expression is judged as SPDX reads it: `A OR B` is as good as its best side, `A AND B`
as bad as its worst, `A WITH exception` as `A`.

| rule | severity | when |
|---|---|---|
| `license-denied` | high | every way to satisfy the expression uses a denied license |
| `license-not-allowed` | medium | the expression needs a license in neither list |
| `license-missing` | medium | the manifest declares no `license` |
| `license-invalid` | medium | the text is not an SPDX expression |
| `license-unknown` | low | a dependency's license cannot be found |
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.parser import HeaderParser
from enum import IntEnum
from pathlib import Path

from sandbench.manifests import MANIFEST_NAME, ModulePackage

from .dependencies import declared_dependencies
from .files import module_files, read_capped
from .interface import Finding, ScanResult, Severity, fingerprint
from .policy import LicensePolicy

__all__ = ["LicenseScanner", "Verdict", "judge"]

NAME = "licenses"
_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z0-9.+:-]+)")
_CLASSIFIERS = {
    "MIT License": "MIT",
    "Apache Software License": "Apache-2.0",
    "BSD License": "BSD-3-Clause",
    "ISC License (ISCL)": "ISC",
    "Python Software Foundation License": "PSF-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
}


class Verdict(IntEnum):
    """Ordered best to worst."""

    ALLOWED = 0
    UNLISTED = 1
    DENIED = 2


class _Parser:
    def __init__(self, text: str, policy: LicensePolicy) -> None:
        tokens: list[str] = []
        pos = 0
        while pos < len(text.rstrip()):
            match = _TOKEN.match(text, pos)
            if match is None:
                raise ValueError(f"unexpected {text[pos : pos + 10]!r}")
            tokens.append(match.group(1))
            pos = match.end()
        if not tokens or len(tokens) > 200:
            raise ValueError("empty or overlong expression")
        self.tokens, self.pos, self.policy = tokens, 0, policy
        self.unlisted: list[str] = []

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ValueError("expression ends too early")
        self.pos += 1
        return token

    def expression(self, depth: int = 0) -> Verdict:
        if depth > 20:
            raise ValueError("nested too deeply")
        verdict = self.conjunction(depth)
        while self.peek() == "OR":
            self.take()
            verdict = min(verdict, self.conjunction(depth))
        return verdict

    def conjunction(self, depth: int) -> Verdict:
        verdict = self.atom(depth)
        while self.peek() == "AND":
            self.take()
            verdict = max(verdict, self.atom(depth))
        return verdict

    def atom(self, depth: int) -> Verdict:
        item = self.take()
        if item == "(":
            verdict = self.expression(depth + 1)
            if self.take() != ")":
                raise ValueError("missing ')'")
        elif item in ("AND", "OR", "WITH", ")"):
            raise ValueError(f"unexpected {item}")
        else:
            verdict = self.license(item)
        if self.peek() == "WITH":
            self.take()
            self.take()
        return verdict

    def license(self, token: str) -> Verdict:
        ident = token.removesuffix("+")
        if ident in self.policy.deny:
            return Verdict.DENIED
        if ident in self.policy.allow:
            return Verdict.ALLOWED
        self.unlisted.append(ident)
        return Verdict.UNLISTED


def judge(expression: str, policy: LicensePolicy) -> tuple[Verdict, list[str]]:
    """The expression's verdict and the unlisted ids. Raises `ValueError` if unparsable."""
    parser = _Parser(expression, policy)
    verdict = parser.expression()
    if parser.peek() is not None:
        raise ValueError(f"unexpected {parser.peek()}")
    return verdict, parser.unlisted


def _bundled(root: Path) -> dict[str, tuple[str | None, str]]:
    """Bundled distributions: canonical name -> (license expression or None, METADATA path)."""
    found: dict[str, tuple[str | None, str]] = {}
    metas = [
        p for p in module_files(root) if p.name == "METADATA" and p.parent.suffix == ".dist-info"
    ]
    for meta in metas:
        try:
            raw = read_capped(meta, 1024 * 1024).decode("utf-8", errors="replace")
        except (OSError, ValueError):
            raw = ""
        headers = HeaderParser().parsestr(raw)
        name = re.sub(r"[-_.]+", "-", str(headers.get("Name", ""))).lower()
        text = headers.get("License-Expression") or headers.get("License")
        if not text:
            ids = [
                _CLASSIFIERS.get(c.rsplit(" :: ", 1)[-1])
                for c in headers.get_all("Classifier") or []
                if c.startswith("License ::")
            ]
            text = " OR ".join(i for i in ids if i) or None
        found[name] = (str(text).strip() if text else None, meta.relative_to(root).as_posix())
    return found


class LicenseScanner:
    """See the module docstring."""

    name = NAME

    def __init__(self, policy: LicensePolicy | None = None) -> None:
        self.policy = policy or LicensePolicy()

    def scan(self, package: ModulePackage) -> ScanResult:
        """See `Scanner.scan`."""
        root = package.root
        findings = list(self._module(package.manifest.license))
        bundled = _bundled(root)
        for name, (text, where) in bundled.items():
            findings += self._judged(f"dependency {name}", text, where, name)
        # What cannot be read is pip-audit's finding (dependency-unreadable), not repeated here.
        declared = {d.name: d for d in declared_dependencies(root).deps if not d.direct}
        for name, dep in declared.items():
            if name not in bundled:
                findings.append(
                    _finding(
                        "license-unknown",
                        Severity.LOW,
                        f"dependency {name}: license unknown (no bundled metadata)",
                        dep.path,
                        name,
                    )
                )
        return ScanResult(
            scanner=NAME,
            findings=tuple(findings),
            summary=f"module license and {len(set(bundled) | set(declared))} dependencies",
        )

    def _module(self, license_text: str | None) -> Iterator[Finding]:
        if not license_text:
            yield _finding(
                "license-missing",
                Severity.MEDIUM,
                "the manifest declares no license (add an SPDX expression such as MIT)",
                MANIFEST_NAME,
                "license",
            )
            return
        yield from self._judged("the module", license_text, MANIFEST_NAME, "license")

    def _judged(self, who: str, text: str | None, where: str, subject: str) -> list[Finding]:
        if text is None:
            msg = f"{who}: license unknown (no license in its metadata)"
            return [_finding("license-unknown", Severity.LOW, msg, where, subject)]
        try:
            verdict, unlisted = judge(text, self.policy)
        except ValueError as exc:
            msg = f"{who}: {text!r} is not an SPDX expression ({exc})"
            return [_finding("license-invalid", Severity.MEDIUM, msg, where, subject)]
        if verdict is Verdict.DENIED:
            msg = f"{who}: {text} is denied by the policy"
            return [_finding("license-denied", Severity.HIGH, msg, where, subject)]
        if verdict is Verdict.UNLISTED:
            msg = f"{who}: {text} needs {', '.join(unlisted)}, in neither allow nor deny list"
            return [_finding("license-not-allowed", Severity.MEDIUM, msg, where, subject)]
        return []


def _finding(rule: str, severity: Severity, message: str, path: str, subject: str) -> Finding:
    return Finding(
        scanner=NAME,
        rule_id=rule,
        severity=severity,
        message=message,
        path=Path(path),
        fingerprint=fingerprint(NAME, rule, path, subject),
    )
