"""The dependencies a module declares, read with the grammars of the tools that install them.

- `*requirements*.txt`, `*constraints*.txt`, `requirements/*.txt`, and every file they name
  with `-r` / `-c`: pip's own grammar
  (`pip-requirements-parser`, which carries pip's parser: `\\` continuations, comments after
  a tab, per-requirement `--hash`, environment markers, `===`, `name @ url`, `-e`). A nested
  file is followed only inside the module, never through a link, never twice in one chain.
- `pyproject.toml`: `[project] dependencies` and `[project.optional-dependencies]` (an extra
  is installed by whoever asks for it, so its pins are audited too), as PEP 508 strings;
  `dynamic = ["dependencies"]` cannot be read without running the build backend.
- `pylock.toml` / `pylock.*.toml` (PEP 751): every `[[packages]]` entry; `uv.lock`,
  `poetry.lock` and `pdm.lock`: every `[[package]]` entry (every platform's: audited all).
- `setup.cfg`: `[options] install_requires` and `[options.extras_require]`, split the way
  setuptools splits them (one per line, or on `;` in a one-line value); `setup.py`: the
  same keywords of its `setup(...)` call when they are literals (read with `ast`, not run).
- `Pipfile.lock`: `default` and `develop`. A `Pipfile` without its lock, a conda
  `environment.yml` and Poetry's `[tool.poetry.dependencies]` without `poetry.lock` are
  formats sandbench does not read: unreadable, not ignored.

Nothing is dropped silently: a line or entry that cannot be read is returned as
`Unreadable(path, line, text, reason)`, and the caller fails closed on it.

Markers are evaluated for every environment a module runs in here (`TARGETS`: CPython 3.9
to 3.14 on Linux x86_64 / aarch64, the containers; CPython on WASI, the components). A
requirement is kept when its marker holds in at least one of them; only one that no target
installs (`sys_platform == "win32"`) is left out, and counted.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sandbench._pyast import literal_eval, parse

from .declarations import (
    TARGETS,
    Declared,
    Dependency,
    Reader,
    Unreadable,
    first_line,
    line_of,
    read_pylock,
    read_pyproject,
    read_setup_cfg,
    read_text,
    unread_format,
)
from .files import module_files

if TYPE_CHECKING:
    from pip_requirements_parser import InstallRequirement, OptionLine

__all__ = ["TARGETS", "Declared", "Dependency", "Unreadable", "declared_dependencies"]

MAX_NESTED = 64


# -- requirements files ------------------------------------------------------------------


def _requirements(
    reader: Reader, file: Path, chain: tuple[Path, ...], *, constraint: bool = False
) -> None:
    rel = reader.rel(file)
    if file in reader.seen:
        return
    reader.seen.add(file)
    if read_text(reader, file) is None:
        return
    # Imported here: pip's parser takes ~25 ms to import, and most modules have no such file.
    from pip_requirements_parser import RequirementsFile

    try:
        parsed = list(RequirementsFile.parse(str(file), include_nested=False))
    except Exception as exc:  # pip's parser raises several kinds; any is "unreadable"
        reader.bad(rel, None, "", f"pip cannot parse it: {first_line(exc)}")
        return
    for item in parsed:
        _requirement_item(reader, item, file, (*chain, file), constraint=constraint)


def _requirement_item(
    reader: Reader, item: object, file: Path, chain: tuple[Path, ...], *, constraint: bool
) -> None:
    from pip_requirements_parser import (  # loaded by _requirements already
        CommentRequirementLine,
        InstallRequirement,
        InvalidRequirementLine,
        OptionLine,
    )

    rel = reader.rel(file)
    if isinstance(item, InvalidRequirementLine):
        reason = item.error_message.splitlines()[0].replace(": : ", ": ")
        reason = reason.removeprefix("pip_requirements_parser: error: ")
        if "${" in item.line:  # pip expands ${VAR} from the installing shell: unknown here
            reason = "an environment variable decides it: its value at install time is unknown"
        reader.bad(rel, item.line_number, item.line, reason)
    elif isinstance(item, OptionLine):
        for key, nested_constraint in (("requirements", constraint), ("constraints", True)):
            for target in item.options.get(key) or ():
                _nested(reader, str(target), item, file, chain, nested_constraint)
    elif isinstance(item, InstallRequirement):
        if not _local_path(reader, item, file):
            _install_requirement(reader, item, rel, constraint=constraint)
    elif not isinstance(item, CommentRequirementLine):  # pragma: no cover - parser contract
        reader.bad(rel, None, repr(item), "an unknown kind of line")


def _local_path(reader: Reader, item: InstallRequirement, file: Path) -> bool:
    """True when `item` is a local path that needs no record: the module itself (`-e .`,
    whose own declarations are read anyway), or, recorded as unreadable, a path that leads
    out of the module. A path to a folder inside the module is a direct reference."""
    link = str(item.link) if item.link is not None else ""
    if not link or ("://" in link and not link.startswith("file:")):
        return False
    path = link.removeprefix("file://").removeprefix("file:").split("#", 1)[0]
    target = Path(os.path.realpath(file.parent / path))
    if target == reader.root:
        return True
    if not target.is_relative_to(reader.root):
        reason = f"{path} leads out of the module folder"
        reader.bad(reader.rel(file), item.line_number, item.line, reason)
        return True
    return False


def _install_requirement(
    reader: Reader, item: InstallRequirement, rel: str, *, constraint: bool
) -> None:
    line = item.line_number
    if item.req is None:  # a bare path or URL: no name, no version
        reader.out.deps.append(
            Dependency("(unnamed)", None, item.line, rel, line, direct=True, constraint=constraint)
        )
        return
    req = Requirement(str(item.req))
    if item.marker is not None:
        req.marker = Marker(str(item.marker))
    if item.link is not None and not req.url:
        req.url = str(item.link)  # `-e git+...#egg=name`: a checkout, not a version
    hashes = tuple(item.hash_options)
    reader.add(req, rel, line, constraint=constraint, hashes=hashes)


def _nested(
    reader: Reader,
    target: str,
    item: OptionLine,
    file: Path,
    chain: tuple[Path, ...],
    constraint: bool,
) -> None:
    rel, line = reader.rel(file), item.line_number
    if "://" in target or target.startswith("file:"):
        reader.bad(rel, line, item.line, f"{target} is not a file of the module")
        return
    candidate = file.parent / target
    resolved = Path(os.path.realpath(candidate))
    if not resolved.is_relative_to(reader.root):
        reader.bad(rel, line, item.line, f"{target} leads out of the module folder")
    elif candidate.is_symlink() or not resolved.is_file():
        reader.bad(rel, line, item.line, f"{target} is not a regular file of the module")
    elif resolved in chain:
        reader.bad(rel, line, item.line, f"{target} includes itself (a loop of -r/-c)")
    elif len(chain) >= MAX_NESTED:
        reader.bad(rel, line, item.line, f"more than {MAX_NESTED} nested files")
    else:
        _requirements(reader, resolved, chain, constraint=constraint)


# -- Pipfile.lock, setup.py ---------------------------------------------------------------


def read_pipfile_lock(reader: Reader, file: Path) -> None:
    """Pipfile.lock (JSON): every package of `default` and `develop` with its `==` version
    and markers; one without a version (a VCS or path source) is a direct reference."""
    text = read_text(reader, file)
    if text is None:
        return
    rel = reader.rel(file)
    try:
        data = json.loads(text)
    except RecursionError:  # the json module reads nested arrays recursively
        reader.bad(rel, None, "", "cannot parse: nested too deeply")
        return
    except json.JSONDecodeError as exc:
        reader.bad(rel, exc.lineno, "", f"cannot parse: {exc.msg}")
        return
    for section in ("default", "develop"):
        packages = data.get(section, {}) if isinstance(data, dict) else None
        if not isinstance(packages, dict):
            reader.bad(rel, line_of(text, section), section, "not an object of packages")
            continue
        for name, entry in packages.items():
            entry = entry if isinstance(entry, dict) else {}
            spec = f"{name}{entry.get('version', '')}"
            if isinstance(entry.get("markers"), str):
                spec += f"; {entry['markers']}"
            line = line_of(text, str(name))
            if "version" not in entry:
                reader.out.deps.append(
                    Dependency(canonicalize_name(str(name)), None, spec, rel, line, direct=True)
                )
            else:
                reader.pep508(spec, rel, line)


def read_setup_py(reader: Reader, file: Path) -> None:
    """`setup(install_requires=[...], extras_require={...})` when they are literals (read
    with `ast`, never run); anything computed is unreadable."""
    text = read_text(reader, file)
    if text is None:
        return
    rel = reader.rel(file)
    try:
        tree = parse(text, rel)
    except (SyntaxError, ValueError, RecursionError) as exc:
        reader.bad(rel, None, "", f"does not parse: {first_line(exc)}")
        return
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            if keyword.arg in ("install_requires", "extras_require"):
                _setup_keyword(reader, keyword, rel)


def _setup_keyword(reader: Reader, keyword: ast.keyword, rel: str) -> None:
    line = keyword.value.lineno
    try:
        value = literal_eval(keyword.value)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        reader.bad(rel, line, f"{keyword.arg}=...", "computed when setup.py runs: list it "
                   "as literals, or in pyproject.toml")  # fmt: skip
        return
    groups = list(value.values()) if isinstance(value, dict) else [value]
    for group in groups:
        items = group.splitlines() if isinstance(group, str) else group
        if not isinstance(items, list | tuple):
            reader.bad(rel, line, repr(group)[:80], "not a list of requirements")
            continue
        for item in items:
            if not (isinstance(item, str) and item.strip().startswith("#")) and item != "":
                reader.pep508(item.strip() if isinstance(item, str) else item, rel, line)


_LOCKS = frozenset({"pylock.toml", "uv.lock", "poetry.lock", "pdm.lock"})


def _is_requirements(file: Path) -> bool:
    """`requirements*.txt`, `dev-requirements.txt`, `constraints.txt`, `requirements/*.txt`."""
    if file.suffix != ".txt":
        return False
    stem = file.stem.lower()
    return "requirements" in stem or "constraints" in stem or file.parent.name == "requirements"


def _read(reader: Reader, file: Path) -> None:
    name = file.name
    if _is_requirements(file):
        _requirements(reader, file, ())
    elif name == "pyproject.toml":
        read_pyproject(reader, file)
    elif name in _LOCKS or (name.startswith("pylock.") and file.suffix == ".toml"):
        read_pylock(reader, file)
    elif name == "setup.cfg":
        read_setup_cfg(reader, file)
    elif name == "setup.py":
        read_setup_py(reader, file)
    elif name == "Pipfile.lock":
        read_pipfile_lock(reader, file)
    elif (name == "Pipfile" and not (file.parent / "Pipfile.lock").exists()) or name in (
        "environment.yml",
        "environment.yaml",
    ):
        unread_format(reader, file)


def declared_dependencies(root: Path) -> Declared:
    """Every dependency the module at `root` declares, and every declaration that could
    not be read. Never raises for the module's content."""
    reader = Reader(root)
    for file in module_files(reader.root):
        _read(reader, file)
    return reader.out
