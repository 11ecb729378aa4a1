"""License compliance: the module's SPDX expression and its dependencies' licenses.

Expressions are read by `license-expression` against the SPDX license list: ids are
matched case-insensitively (`apache-2.0` is `Apache-2.0`), deprecated ids are read as their
successors (`GPL-2.0+` is `GPL-2.0-or-later`, `AGPL-3.0` is `AGPL-3.0-only`), and the
policy's allow / deny lists are normalized the same way. `LicenseRef-…` ids are valid and
judged by the lists like any other.

Dependencies' licenses come from the `*.dist-info/METADATA` files bundled in the module,
in order of trust: `License-Expression` (PEP 639, SPDX by definition), then the `License ::`
trove classifiers, then the free-text `License:` field. Free text is read as SPDX when it
is, else mapped through the license-expression index of common names (`Apache 2.0`,
`Apache License, Version 2.0`, `PSFL`, `MIT License`, `BSD`). A declared dependency with no
bundled metadata has an unknown license: nothing offline says more.

An expression is judged as SPDX reads it: `A OR B` is as good as its best side, `A AND B`
as bad as its worst, `A WITH exception` as `A`.

| rule | severity | when |
|---|---|---|
| `license-denied` | high | every way to satisfy the expression uses a denied license |
| `license-unknown-id` | medium | the expression needs an id that is not on the SPDX list (nor a `LicenseRef-`), or free text names no license we can map |
| `license-not-allowed` | medium | the expression needs a valid SPDX license in neither list |
| `license-missing` | medium | the manifest declares no `license` |
| `license-invalid` | medium | the text is not an SPDX expression (syntax) |
| `license-text-mismatch` | high, medium | a license file (`LICENSE*`, `COPYING*` at the module's root, or in a bundled `.dist-info`) is the text of a license the declared expression does not name (`_support/license_files.py`); high when the policy denies the text's license |
| `license-unknown` | low | a dependency's license cannot be found |
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from email.message import Message
from email.parser import HeaderParser
from enum import IntEnum
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from sandbench.manifests import MANIFEST_NAME, ModulePackage

from ._support.dependencies import declared_dependencies
from ._support.files import module_files, read_capped
from ._support.license_files import family, license_files
from .interface import Finding, ScanResult, Severity, fingerprint
from .policy import LicensePolicy

__all__ = [
    "Judgement",
    "LicenseScanner",
    "Verdict",
    "declared_families",
    "judge",
    "spdx_from_text",
]

NAME = "licenses"
MAX_EXPRESSION = 1000
# Trove classifiers (the part after "License :: ") -> SPDX. A classifier names a family
# (e.g. "BSD License"), so the most common member stands for it.
_CLASSIFIERS = {
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "Apache Software License": "Apache-2.0",
    "BSD License": "BSD-3-Clause",
    "ISC License (ISCL)": "ISC",
    "Python Software Foundation License": "PSF-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "zlib/libpng License": "Zlib",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "Historical Permission Notice and Disclaimer (HPND)": "HPND",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
}
# Free-text names that are neither SPDX ids nor ScanCode keys once normalized.
_FREE_TEXT = {
    "psfl": "PSF-2.0",
    "psf": "PSF-2.0",
    "python-software-foundation": "PSF-2.0",
    "bsd": "BSD-3-Clause",
    "new-bsd": "BSD-3-Clause",
    "modified-bsd": "BSD-3-Clause",
    "3-clause-bsd": "BSD-3-Clause",
    "bsd-3": "BSD-3-Clause",
    "simplified-bsd": "BSD-2-Clause",
    "2-clause-bsd": "BSD-2-Clause",
    "bsd-2": "BSD-2-Clause",
    "apache": "Apache-2.0",
    "apache-software": "Apache-2.0",
    "apache2": "Apache-2.0",
    "gplv2": "GPL-2.0-only",
    "gplv3": "GPL-3.0-only",
    "lgplv3": "LGPL-3.0-only",
    "agplv3": "AGPL-3.0-only",
    "mpl2": "MPL-2.0",
}
_NOISE = re.compile(r"\b(the|license|licence|licensed|version|v(?=\d)|under)\b|[,()]")


class Verdict(IntEnum):
    """Ordered best to worst."""

    ALLOWED = 0
    UNLISTED = 1
    UNKNOWN = 2
    DENIED = 3


class Judgement(NamedTuple):
    """An expression's verdict, the listed-nowhere and the unknown ids it needs, and the
    expression in canonical SPDX form."""

    verdict: Verdict
    unlisted: list[str]
    unknown: list[str]
    canonical: str


@cache
def _spdx() -> Any:  # the module; untyped, so Any to mypy
    # Imported on first use: license-expression takes ~20 ms to import, every CLI run pays it.
    import license_expression

    return license_expression


@cache
def _licensing() -> Any:
    return _spdx().get_spdx_licensing()


@cache
def _scancode_index() -> dict[str, str]:
    """ScanCode license keys (`apache-2.0`, `bsd-new`, `python`) and SPDX ids in lower case
    -> SPDX ids, from the index that license-expression ships."""
    data = Path(str(_spdx().__file__)).parent / "data" / "scancode-licensedb-index.json"
    index: dict[str, str] = {}
    for entry in json.loads(data.read_text(encoding="utf-8")):
        spdx = entry.get("spdx_license_key")
        if spdx and not entry.get("is_exception") and not str(spdx).startswith("LicenseRef-"):
            index[str(entry["license_key"]).lower()] = str(spdx)
    index.update({str(key).lower(): str(key) for key in _licensing().known_symbols})
    return index


def _parse(text: str) -> Any:
    if not text.strip() or len(text) > MAX_EXPRESSION:
        raise ValueError("empty or overlong expression")
    try:
        parsed = _licensing().parse(text, validate=False, strict=True)
    except _spdx().ExpressionError as exc:
        raise ValueError(str(exc)) from exc
    if parsed is None:
        raise ValueError("empty expression")
    return parsed


def _key(symbol: Any) -> tuple[str, bool]:
    """(canonical id, known): `MIT+` is read as SPDX's "or later" of MIT."""
    key = str(symbol.key)
    known = _licensing().known_symbols
    if key in known or key.startswith("LicenseRef-"):
        return key, True
    if key.endswith("+") and key[:-1] in known:
        return key[:-1], True
    return key, False


def _normalized(ids: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for text in ids:
        try:
            out.add(_key(_parse(text))[0].lower())
        except (ValueError, AttributeError):
            out.add(text.lower())
    return frozenset(out)


class _Walk:
    def __init__(self, policy: LicensePolicy) -> None:
        self.allow = _normalized(policy.allow)
        self.deny = _normalized(policy.deny)
        self.unlisted: list[str] = []
        self.unknown: list[str] = []

    def verdict(self, node: Any) -> Verdict:
        if isinstance(node, _spdx().LicenseWithExceptionSymbol):
            node = node.license_symbol
        if isinstance(node, _spdx().LicenseSymbol):
            return self.symbol(node)
        sides = [self.verdict(arg) for arg in node.args]
        return min(sides) if isinstance(node, _licensing().OR) else max(sides)

    def symbol(self, symbol: Any) -> Verdict:
        key, known = _key(symbol)
        if key.lower() in self.deny:
            return Verdict.DENIED
        if key.lower() in self.allow:
            return Verdict.ALLOWED
        (self.unlisted if known else self.unknown).append(key)
        return Verdict.UNLISTED if known else Verdict.UNKNOWN


def judge(expression: str, policy: LicensePolicy) -> Judgement:
    """Judge an SPDX expression under `policy`. Raises `ValueError` if it does not parse."""
    parsed = _parse(expression)
    walk = _Walk(policy)
    verdict = walk.verdict(parsed)
    return Judgement(verdict, walk.unlisted, walk.unknown, str(parsed.render()))


def declared_families(expression: str) -> set[str] | None:
    """The license families (`license_files.family`) an SPDX expression names, or None
    when it does not parse."""
    try:
        named = _licensing().license_symbols(_parse(expression), decompose=True)
    except ValueError:
        return None
    return {family(_key(symbol)[0]) for symbol in named}


def spdx_from_text(text: str) -> str | None:
    """Free text read as SPDX: an expression of known ids as it is, else a common name
    mapped (`Apache 2.0` -> `Apache-2.0`, `PSFL` -> `PSF-2.0`), else None."""
    try:
        parsed = _parse(text)
        if all(_key(s)[1] for s in _licensing().license_symbols(parsed, decompose=True)):
            return str(parsed.render())
    except ValueError:
        pass
    words = " ".join(_NOISE.sub(" ", text.lower()).split())
    slug = words.replace(" ", "-")
    for candidate in (slug, slug.removesuffix(".0"), f"{slug}.0"):
        found = _scancode_index().get(candidate) or _FREE_TEXT.get(candidate)
        if found:
            return found
    return None


def _metadata_license(headers: Message) -> tuple[str | None, str]:
    """(license text, where it came from), in order of trust; see the module docstring."""
    expression = headers.get("License-Expression")
    if expression:
        return str(expression).strip(), "License-Expression"
    ids = [
        _CLASSIFIERS.get(c.rsplit(" :: ", 1)[-1])
        for c in headers.get_all("Classifier") or []
        if str(c).startswith("License ::")
    ]
    known = list(dict.fromkeys(i for i in ids if i))
    if known:
        return " OR ".join(known), "classifiers"
    free = str(headers.get("License") or "").strip()
    if not free or free.upper() == "UNKNOWN":
        return None, "none"
    return spdx_from_text(free) or free, "License"


def _bundled(root: Path) -> dict[str, tuple[str | None, str, str]]:
    """Bundled distributions: canonical name -> (license text or None, where it came from,
    METADATA path)."""
    found: dict[str, tuple[str | None, str, str]] = {}
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
        text, origin = _metadata_license(headers)
        found[name] = (text, origin, meta.relative_to(root).as_posix())
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
        for name, (text, origin, where) in bundled.items():
            findings += self._judged(f"dependency {name}", text, where, name, origin)
        texts = license_files(root, module_files(root))
        findings += self._texts("the module", package.manifest.license, texts.get("", []))
        for name, (text, _origin, where) in bundled.items():
            found = texts.get(Path(where).parent.as_posix(), [])
            findings += self._texts(f"dependency {name}", text, found)
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

    def _judged(
        self, who: str, text: str | None, where: str, subject: str, origin: str = ""
    ) -> list[Finding]:
        if text is None:
            msg = f"{who}: license unknown (no license in its metadata)"
            return [_finding("license-unknown", Severity.LOW, msg, where, subject)]
        try:
            verdict, unlisted, unknown, canonical = judge(text, self.policy)
        except ValueError as exc:
            if origin == "License":  # free text that names no license we know
                msg = f"{who}: its free-text License {text[:80]!r} names no SPDX license"
                return [_finding("license-unknown-id", Severity.MEDIUM, msg, where, subject)]
            msg = f"{who}: {text!r} is not an SPDX expression ({exc})"
            return [_finding("license-invalid", Severity.MEDIUM, msg, where, subject)]
        if verdict is Verdict.DENIED:
            msg = f"{who}: {canonical} is denied by the policy"
            return [_finding("license-denied", Severity.HIGH, msg, where, subject)]
        if verdict is Verdict.UNKNOWN:
            hint = spdx_from_text(text)
            msg = f"{who}: {text} uses {', '.join(unknown)}, not an SPDX license id" + (
                f" (did you mean {hint}?)" if hint and hint != text else ""
            )
            return [_finding("license-unknown-id", Severity.MEDIUM, msg, where, subject)]
        if verdict is Verdict.UNLISTED:
            msg = f"{who}: {canonical} needs {', '.join(unlisted)}, in neither allow nor deny list"
            return [_finding("license-not-allowed", Severity.MEDIUM, msg, where, subject)]
        return []

    def _texts(self, who: str, declared: str | None, files: list[tuple[str, str]]) -> list[Finding]:
        """`license-text-mismatch` for each license file whose text is a license the
        declared expression does not name (high when the policy denies that license)."""
        families = declared_families(declared or "")
        if families is None:
            return []  # no or no valid declaration: already its own finding
        findings = []
        for path, text_family in files:
            if family(text_family) in families:
                continue
            denied = judge(text_family, self.policy).verdict is Verdict.DENIED
            msg = (
                f"{who}: {path} is the text of {text_family}, which the declared license"
                f" {declared} does not name; declare the license the text grants"
            )
            severity = Severity.HIGH if denied else Severity.MEDIUM
            findings.append(_finding("license-text-mismatch", severity, msg, path, who))
        return findings


def _finding(rule: str, severity: Severity, message: str, path: str, subject: str) -> Finding:
    return Finding(
        scanner=NAME,
        rule_id=rule,
        severity=severity,
        message=message,
        path=Path(path),
        fingerprint=fingerprint(NAME, rule, path, subject),
    )
