"""What the other scanners cannot read, as findings: whatever a module ships is scanned, or
the scan fails closed naming the file.

The code scanners (bandit, malware, the Python capability analysis) read `.py` files that
parse on this host's Python, up to 2 MiB, outside environment folders. Everything else
that Python could still run is reported here, one finding per file:

- any file under `venv/`, `.venv/`, `node_modules/` or `.tox/`: the digest covers these
  folders, every scanner skips them;
- a `.py` file over 2 MiB, or one that does not parse on this host's Python (newer syntax
  such as 3.12's `type X = ...` on a 3.11 host, a null byte, nesting deeper than CPython
  allows): a file no analyser can read cannot be judged safe;
- compiled bytecode (`.pyc`, `.pyo`, in `__pycache__` or not): Python runs it instead of
  (or without) its source, and the digest leaves it out;
- a Python script without the `.py` suffix (a `#!...python` first line);
- a symbolic link that leads out of the module or nowhere;
- an archive that can carry code (a wheel, egg or zip holding `.py`, `.pth` or native
  files; a tarball, compressed or not): the scanners do not read inside it
  (`_support/nested.py`).

| rule | severity | when |
|---|---|---|
| `not-scanned` | high | a shipped file that no scanner reads, as listed above |

A module that must ship such a file (a vendored environment, say) can accept it with a
policy ignore of `not-scanned` for that path, with its reason.
"""

from __future__ import annotations

import os
import platform
import stat
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from sandbench._pyast import parse
from sandbench._tree import walk
from sandbench.manifests import ModulePackage

from ._support.files import MAX_FILES, SKIP_DIRS, read_capped
from ._support.nested import code_archive
from ._support.pysource import MAX_SOURCE_BYTES
from .interface import Finding, ScanResult, Severity, fingerprint

__all__ = ["CoverageScanner", "unscanned"]

NAME = "coverage"
RULE = "not-scanned"
MAX_REPORTED = 200
# Folders outside the digest (version control, our own state): not shipped, not scanned.
_NOT_SHIPPED = frozenset({".git", ".hg", ".svn", ".sandbench"})
_ENVIRONMENTS = SKIP_DIRS - _NOT_SHIPPED - {"__pycache__"}
_HOST = f"Python {platform.python_version()}"


def _python_problem(path: Path) -> str | None:
    """Why the code scanners cannot read this `.py` file, or None when they can."""
    try:
        data = read_capped(path, MAX_SOURCE_BYTES)
    except ValueError:
        return f"larger than {MAX_SOURCE_BYTES // 2**20} MiB, the code scanners' limit"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    try:
        with warnings.catch_warnings():  # invalid escapes warn; only failing to parse matters
            warnings.simplefilter("ignore")
            parse(data, filename=path.name)  # bytes: honours a PEP 263 coding line
    except SyntaxError as exc:
        return f"does not parse on this host's {_HOST} (line {exc.lineno}: {exc.msg})"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"does not parse on this host's {_HOST} ({type(exc).__name__}: {exc})"
    return None


def _script(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            first = handle.readline(256)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def _link_problem(root: Path, path: Path) -> str | None:
    target = Path(os.path.realpath(path))
    if not target.exists():
        return f"a link to {os.readlink(path)}, which does not exist here"
    if not target.is_relative_to(root):
        return f"a link to {os.readlink(path)}, outside the module: not shipped, not scanned"
    return None


def _file_problem(root: Path, path: Path, folder: str | None) -> str | None:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return _link_problem(root, path)
    if not stat.S_ISREG(mode):
        return None  # the digest refuses special files before any scan
    if folder is not None:
        return f"under {folder}/, a folder every scanner skips"
    if path.suffix in (".pyc", ".pyo"):
        return "compiled Python bytecode: it runs instead of its source and no scanner reads it"
    if path.suffix == ".py":
        return _python_problem(path)
    if _script(path):
        return "a Python script without the .py suffix: the code scanners do not read it"
    return code_archive(path)


def unscanned(root: Path) -> Iterator[tuple[str, str]]:
    """(relative path, why) for each shipped file that no scanner reads; see the docstring."""
    root = root.resolve()
    seen = 0
    for dirpath, dirnames, filenames in walk(root):
        here = Path(dirpath)
        rel_here = here.relative_to(root)
        parts = rel_here.parts
        at = next((i for i, p in enumerate(parts) if p in _ENVIRONMENTS), None)
        folder = "/".join(parts[: at + 1]) if at is not None else None
        dirnames[:] = sorted(d for d in dirnames if d not in _NOT_SHIPPED)
        links = [d for d in dirnames if (here / d).is_symlink()]
        for name in sorted([*filenames, *links]):
            seen += 1
            if seen > MAX_FILES:
                return
            path = here / name
            why = _file_problem(root, path, folder)
            if why is not None:
                yield path.relative_to(root).as_posix(), why


class CoverageScanner:
    """See the module docstring."""

    name = NAME

    def scan(self, package: ModulePackage) -> ScanResult:
        """See `Scanner.scan`."""
        found = list(unscanned(package.root))
        findings = [_finding(rel, why) for rel, why in found[:MAX_REPORTED]]
        if len(found) > MAX_REPORTED:
            rest = len(found) - MAX_REPORTED
            findings.append(_finding(found[MAX_REPORTED][0], f"and {rest} more files like it"))
        summary = (
            f"{len(found)} shipped files no scanner reads"
            if found
            else f"every shipped file is read by a scanner (host {sys.implementation.name} "
            f"{platform.python_version()})"
        )
        return ScanResult(scanner=NAME, findings=tuple(findings), summary=summary)


def _finding(rel: str, why: str) -> Finding:
    return Finding(
        scanner=NAME,
        rule_id=RULE,
        severity=Severity.HIGH,
        message=f"{rel}: {why}",
        path=Path(rel),
        fingerprint=fingerprint(NAME, RULE, rel, why.split(" (")[0]),
        remediation="remove it from the module, ship it as readable .py source, or accept it "
        "with a policy ignore of not-scanned for this path",
    )
