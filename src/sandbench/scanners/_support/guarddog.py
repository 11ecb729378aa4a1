"""GuardDog's source-code threat rules over a module's files, matched in process with YARA.

GuardDog 3.x is a set of YARA rules (`analyzer/sourcecode/*.yar` in the `guarddog`
package) and a CLI that compiles each rule on its own and walks the folder once per rule.
sandbench runs the same rules with the same engine (`yara-python`, GuardDog's own
dependency), but compiled once per process into one rule set and matched once per file:
the CLI cost about 0.5 CPU-s a scan in imports (its metadata detectors pull in `requests`
and try to refresh three package lists) and in compiling 43 rules one by one (0.24 s,
against 0.03 s together), where matching a module takes milliseconds.

What GuardDog's CLI does around a match is kept, so that findings are the ones
`guarddog pypi scan DIR` reports:

- only the `threat-*` rules, never `capability-*` (they say a file can reach the network
  or start a process, which the capability scanner and the manifest's permissions judge);
  its metadata rules judge a registry's package record, which a module folder does not have;
- a rule's `path_include` / `path_exclude` globs, and otherwise GuardDog's default list of
  file suffixes it does not scan (documents, data, lock files);
- a match on a comment line (`#`, `//`) or inside a block comment / triple-quoted string
  (the same look-back over 4 KiB GuardDog uses) is not a match;
- a rule's `max_hits` caps the matches counted in one file.

Nothing runs GuardDog's own code, so nothing reaches the network and GuardDog's Landlock
sandbox has nothing to box: the module's bytes are read (regular files only, capped) and
handed to libyara as data, in the scan's child process that is killed at the deadline.

Severity, per rule, from the rule's own metadata (`severity`, and `specificity`: how
rarely the pattern occurs in benign code) -- see `SEVERITY` and docs/scanners.md. One
finding per rule and file, at the rule's first match, with the number of matches.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Any

from sandbench.scanners.interface import Confidence, Finding, Severity, fingerprint

from .files import read_capped

__all__ = ["GuardDogRun", "guarddog_rules", "rule_severity", "run_guarddog"]

MAX_FILE_BYTES = 2 * 1024 * 1024
MATCH_TIMEOUT_S = 60  # per file; libyara stops the match and we count the file as unread
# (GuardDog severity, specificity) -> ours. A low-specificity rule matches benign code
# often (reading `.env`, `os.getenv`), so it is reported but never fails a gate alone.
SEVERITY = {
    ("high", "high"): Severity.HIGH,
    ("high", "medium"): Severity.MEDIUM,
    ("medium", "high"): Severity.MEDIUM,
}
# GuardDog 3.2's default `GUARDDOG_YARA_EXT_EXCLUDE`: names ending so are not scanned.
SKIPPED_SUFFIXES = (
    "ini", "md", "rst", "txt", "lock", "json", "yaml", "yml", "toml", "xml", "html", "csv",
    "sql", "pdf", "doc", "docx", "ppt", "pptx", "xls", "xlsx", "odt", "changelog", "readme",
    "makefile", "dockerfile", "pkg-info", "d.ts",
)  # fmt: skip
_META = re.compile(
    r"^\s*(description|severity|specificity|max_hits|path_include|path_exclude)"
    r'\s*=\s*"?([^"\n]*)"?',
    re.M,
)
_LINE_COMMENT = {".py": "#", ".pyi": "#", ".pyx": "#", ".rb": "#"}
_LINE_COMMENT |= dict.fromkeys((".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".go", ".rs"), "//")
_LOOK_BACK = 4096


@dataclass(frozen=True)
class Rule:
    """One GuardDog threat rule's metadata, as its `.yar` file declares it."""

    severity: str
    specificity: str
    description: str
    max_hits: int | None
    include: tuple[str, ...]
    exclude: tuple[str, ...]

    def applies(self, rel: str) -> bool:
        """Whether GuardDog would match this rule against the file at `rel`. An include
        glob is also tried on `./rel`: GuardDog's `*/setup.py` means a package's setup.py,
        which in a registry's archive sits one folder down and in a module at its root."""
        name = rel.rsplit("/", 1)[-1]
        if self.include:
            if not any(fnmatch(rel, p) or fnmatch(f"./{rel}", p) for p in self.include):
                return False
        elif name.lower().endswith(SKIPPED_SUFFIXES):
            return False
        return not any(fnmatch(rel, p) or fnmatch(name, p) for p in self.exclude)


class GuardDogRun:
    """What one run of GuardDog's rules gave: findings, and the files it could not read."""

    def __init__(self, findings: list[Finding], errors: int, left_out: int = 0) -> None:
        self.findings, self.errors = findings, errors
        self.left_out = left_out  # files not matched: too big, or not regular files


def _package_dir() -> Path | None:
    """The installed `guarddog` package's folder, found without importing it."""
    spec = importlib.util.find_spec("guarddog")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _globs(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


@cache
def _threat_rules() -> dict[str, tuple[Path, Rule]]:
    package = _package_dir()
    if package is None:
        return {}
    rules = {}
    for path in sorted((package / "analyzer" / "sourcecode").glob("threat-*.yar")):
        meta: dict[str, str] = {}
        for m in _META.finditer(path.read_text(encoding="utf-8")):
            meta.setdefault(m.group(1), m.group(2).strip())
        hits = meta.get("max_hits", "")
        rules[path.stem] = (
            path,
            Rule(
                severity=meta.get("severity", "low"),
                specificity=meta.get("specificity", "low"),
                description=meta.get("description", ""),
                max_hits=int(hits) if hits.isdigit() else None,
                include=_globs(meta.get("path_include")),
                exclude=_globs(meta.get("path_exclude")),
            ),
        )
    return rules


def guarddog_rules() -> dict[str, tuple[str, str, str]]:
    """The installed GuardDog's threat rules: name -> (severity, specificity, description).

    Empty when GuardDog is not installed.
    """
    return {
        name: (rule.severity, rule.specificity, rule.description)
        for name, (_, rule) in _threat_rules().items()
    }


def rule_severity(rule: str) -> Severity:
    """Our severity for a GuardDog rule (low for a rule this version does not describe)."""
    severity, specificity, _ = guarddog_rules().get(rule, ("low", "low", ""))
    if severity == "low":
        return Severity.INFO
    return SEVERITY.get((severity, specificity), Severity.LOW)


@cache
def _compiled() -> Any:
    """GuardDog's threat rules compiled into one YARA rule set, once per process (each
    rule in a namespace named after its file); a string saying why when they cannot be."""
    rules = _threat_rules()
    if not rules:
        return "GuardDog is not installed (pip install 'guarddog>=3.2,<4')"
    try:
        import yara
    except ImportError as exc:
        return f"yara-python, GuardDog's YARA engine, cannot be loaded: {exc}"
    try:
        return yara.compile(filepaths={name: str(path) for name, (path, _) in rules.items()})
    except yara.Error as exc:
        return f"GuardDog's rules do not compile with this yara-python: {exc}"


def run_guarddog(root: Path, files: list[Path]) -> GuardDogRun | str:
    """GuardDog's threat rules over `files` (regular files under `root`, as
    `files.module_files` lists them); a string saying why when they could not run."""
    compiled = _compiled()
    if isinstance(compiled, str):
        return compiled
    import yara

    rules = _threat_rules()
    findings: list[Finding] = []
    errors = left_out = 0
    for path in files:
        rel = path.relative_to(root).as_posix()
        wanted = {name for name, (_, rule) in rules.items() if rule.applies(rel)}
        if not wanted:
            continue
        try:
            data = read_capped(path, MAX_FILE_BYTES)
        except (OSError, ValueError):
            left_out += 1
            continue
        try:
            matches = compiled.match(data=data, timeout=MATCH_TIMEOUT_S)
        except yara.Error:  # a timeout or an engine error: this file is not judged
            errors += 1
            continue
        findings += _file_findings(rel, data, [m for m in matches if m.namespace in wanted])
    return GuardDogRun(findings, errors, left_out)


def _file_findings(rel: str, data: bytes, matches: list[Any]) -> list[Finding]:
    """One finding per rule that matched `data` outside comments."""
    hits: dict[str, list[tuple[int, str]]] = {}
    for match in matches:
        rule = _threat_rules()[match.namespace][1]
        found = hits.setdefault(match.namespace, [])
        for string in match.strings:
            for instance in string.instances:
                if rule.max_hits is not None and len(found) >= rule.max_hits:
                    break
                if not _in_comment(rel, data, instance.offset):
                    text = bytes(instance.matched_data).decode("utf-8", errors="replace")
                    found.append((data.count(b"\n", 0, instance.offset) + 1, text))
    return [_finding(rule, rel, found) for rule, found in sorted(hits.items()) if found]


def _in_comment(rel: str, data: bytes, offset: int) -> bool:
    """GuardDog's comment test: the match's line starts a line comment, or the 4 KiB before
    it open a block comment (`/*` after the last `*/`) or an odd number of `\"\"\"`/`'''`."""
    marker = _LINE_COMMENT.get(Path(rel).suffix.lower())
    if marker is None:
        return False
    start = data.rfind(b"\n", 0, offset) + 1
    end = data.find(b"\n", offset)
    line = data[start : end if end >= 0 else len(data)]
    if line.strip().startswith(marker.encode()):
        return True
    if rel.endswith(".rb"):
        return False  # GuardDog looks for block comments in Python, JS, TS, Go, Rust only
    window = data[max(0, offset - _LOOK_BACK) : offset]
    if marker == "//":
        return window.rfind(b"/*") > window.rfind(b"*/")
    return any(window.count(quote) % 2 == 1 for quote in (b'"""', b"'''"))


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
