"""Loading a module directory: read `module.json`, validate it, digest the tree.

Every way a manifest can be wrong ends in one `ManifestError` whose `problems` list has
one line per problem: the field path, the bad value and what is expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from sandbench.errors import ManifestError, problem_message, validation_lines

from .digest import MANIFEST_NAME, DigestError, compute_digest
from .links import LinkProblem, LinkTree
from .models import ContainerRuntime, Manifest, ModulePackage
from .text import clipped, printable, shown

__all__ = ["load", "parse_manifest", "write_signature"]

MAX_MANIFEST_BYTES = 1024 * 1024


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}; each key may appear once")
        result[key] = value
    return result


def _loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        shown = clipped(str(part), 60)
        text += f"[{part}]" if isinstance(part, int) else (f".{shown}" if text else shown)
    return text or "(top level)"


def _shown(value: object) -> str:
    try:
        text = printable(json.dumps(value, ensure_ascii=False, default=str))
    except (ValueError, RecursionError):
        text = "(nested too deeply to show)"
    return text if len(text) <= 60 else text[:57] + "..."


_FRIENDLY = {
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "tuple_type": "expected an array",
    "list_type": "expected an array",
}


def _problem(error: ErrorDetails) -> str:
    # Pydantic puts the key itself at the end of the location for bad dict keys, and the
    # tag of a discriminated union (`runtime.container.port`) after the field.
    loc = tuple(p for p in error["loc"] if p not in ("[key]",))
    if loc[:1] == ("runtime",) and loc[1:2] in (("wasm",), ("container",)):
        loc = loc[:1] + loc[2:]
    message = problem_message(error)
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        tag = error.get("ctx", {}).get("tag")
        where = _loc((*loc, "kind"))
        if tag is None:
            return f"{where}: missing; this field is required (wasm or container)"
        return f"{where}: {_shown(tag)} is invalid: expected 'wasm' or 'container'"
    if error["type"] == "missing":
        return f"{_loc(loc)}: missing; this field is required"
    if error["type"] == "extra_forbidden":
        return f"{_loc(loc)}: unexpected field; remove it or check its spelling"
    message = _FRIENDLY.get(error["type"], message)
    message = message.replace("Input should be", "expected").replace(
        "String should have", "expected"
    )
    return f"{_loc(loc)}: {_shown(error['input'])} is invalid: {message}"


def parse_manifest(text: str | bytes, source: Path | str = MANIFEST_NAME) -> Manifest:
    """Parse and validate manifest JSON. Raises `ManifestError`, one line per problem."""
    raw = _decode(text, source)
    return _validate(raw, source)


def _decode(text: str | bytes, source: Path | str) -> dict[str, Any]:
    try:
        raw = json.loads(text, object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            source, [f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ManifestError(source, [f"not valid JSON: {exc}"]) from None
    if not isinstance(raw, dict):
        raise ManifestError(source, ["expected a JSON object at the top level"])
    _check_unicode(raw, source)
    return raw


def _check_unicode(raw: dict[str, Any], source: Path | str) -> None:
    """Refuse lone surrogates (`"\\ud800"` is valid JSON, not valid Unicode) in any key
    or string: no encoder takes them (the digest, a report, a file name, the terminal).
    One pass over the document, without recursion (nesting is as deep as JSON allows)."""
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), raw)]
    problems: list[str] = []
    while stack and len(problems) < 10:
        loc, node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            here = (*loc, key)
            if isinstance(key, str) and not _encodable(key):
                problems.append(f"{_loc(loc)}: the key {shown(key)} {_SURROGATE}")
            elif isinstance(value, str) and not _encodable(value):
                problems.append(f"{_loc(here)}: {shown(value)} {_SURROGATE}")
            elif isinstance(value, dict | list):
                stack.append((here, value))
    if problems:
        raise ManifestError(source, sorted(problems))


_SURROGATE = "holds a lone surrogate (\\ud800-\\udfff); write the character itself or a valid pair"


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _validate(raw: dict[str, Any], source: Path | str) -> Manifest:
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise ManifestError(source, validation_lines(exc, line=_problem)) from None
    except RecursionError:
        raise ManifestError(source, ["nested too deeply"]) from None


def load(path: Path | str) -> ModulePackage:
    """Load the module at `path` (a directory holding `module.json`).

    Validates the manifest, checks that the runtime's entry file exists inside the module,
    computes the digest and resolves every link as the kernel would (`links`: none may
    lead out of the module, loop or be absolute). Raises `ManifestError` naming the file and every problem.
    """
    root = Path(path)
    manifest_path = root / MANIFEST_NAME
    if not root.is_dir():
        raise ManifestError(root, ["not a directory; give the folder that holds module.json"])
    if manifest_path.is_symlink():
        # The digest covers a link's target text, not the file it points to: a linked
        # manifest could change the module's permissions without changing its digest.
        raise ManifestError(manifest_path, ["is a link; it must be a regular file in the module"])
    if not manifest_path.is_file():
        raise ManifestError(
            manifest_path, ["not found; create it (`sandbench manifest schema` shows the format)"]
        )
    if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ManifestError(manifest_path, ["larger than 1 MiB; a manifest should be far smaller"])
    try:
        text = manifest_path.read_bytes()
    except OSError as exc:
        raise ManifestError(manifest_path, [f"cannot be read: {exc.strerror}"]) from None
    raw = _decode(text, manifest_path)
    manifest = _validate(raw, manifest_path)
    root = root.resolve()
    _check_entry(root, manifest, manifest_path)
    links = LinkTree()
    try:
        digest = compute_digest(root, raw, links)
        links.check()
    except DigestError as exc:
        raise ManifestError(root, [str(exc)]) from None
    except LinkProblem as exc:
        # As for archives: a link the kernel would resolve out of the module reads host files.
        problem = f"{shown(exc.path)}: {exc.problem}; replace the link by the file it names"
        raise ManifestError(root, [problem]) from None
    return ModulePackage(manifest=manifest, root=root, digest=digest, raw=raw)


def _check_entry(root: Path, manifest: Manifest, manifest_path: Path) -> None:
    runtime = manifest.runtime
    if isinstance(runtime, ContainerRuntime):
        if runtime.build is not None:
            _check_build(root, runtime.build, manifest_path)
        return
    entry = root / runtime.entry
    shown = _shown(runtime.entry)
    try:
        inside = entry.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # RuntimeError: a loop of links (Python < 3.13)
        inside = False
    if entry.is_symlink() or not inside:
        raise ManifestError(manifest_path, [f"runtime.entry: {shown} must not be a link"])
    if not entry.is_file():
        how = f"run `sandbench build {root}`" if runtime.source else "build it first"
        raise ManifestError(
            manifest_path, [f"runtime.entry: {shown} does not exist in {root}; {how}"]
        )


def _check_build(root: Path, build: str, manifest_path: Path) -> None:
    context = root / build
    shown = _shown(build)
    try:
        inside = context.resolve().is_relative_to(root)
    except (OSError, RuntimeError):
        inside = False
    if context.is_symlink() or not inside:
        raise ManifestError(manifest_path, [f"runtime.build: {shown} must not be a link"])
    if not (context / "Dockerfile").is_file():
        raise ManifestError(
            manifest_path, [f"runtime.build: {shown} has no Dockerfile in {root}; add one"]
        )


def write_signature(package: ModulePackage) -> str:
    """Store the package's digest as the `signature` of its module.json; returns it."""
    value = f"SHA256:{package.digest}"
    raw = dict(package.raw)
    raw["signature"] = value
    path = package.root / MANIFEST_NAME
    path.write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return value
