"""The module digest (docs/digest.md): reproducible, complete, and blind to what it skips."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbench.errors import ManifestError
from sandbench.manifests import canonical_manifest, compute_digest, digest, load
from tests.manifests.conftest import WriteModule
from tests.manifests.samples import EXAMPLE, MINIMAL

DOC = Path(__file__).resolve().parents[2] / "docs" / "digest.md"
WORKED_EXAMPLE_DIGEST = "9a9a8f3faed58ea69a7a921f06c7f2bd7f936cb8dc69a738caf39bc36d31fe78"


def _doc_blocks(language: str) -> list[str]:
    """The bodies of the doc's fenced code blocks in `language` ("" for none)."""
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.M | re.S)
    return [body for lang, body in blocks if lang == language]


def _reference() -> Callable[[str, dict[str, Any]], str]:
    """The reference implementation, taken from docs/digest.md itself."""
    (code,) = _doc_blocks("python")
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    function: Callable[[str, dict[str, Any]], str] = namespace["module_digest"]
    return function


module_digest = _reference()


def digest_of(root: Path) -> str:
    # The algorithm itself, links leading out included (`load` refuses those trees).
    raw = json.loads((root / "module.json").read_text(encoding="utf-8"))
    return compute_digest(root, raw)


@pytest.fixture
def module(write_module: WriteModule) -> Path:
    """A module with a subfolder, a link and a non-ASCII file name."""
    root = write_module(
        {"lib/util.txt": "util\n", "lib/deep/data.bin": bytes(range(256)), "café.txt": "é"},
        manifest=EXAMPLE,
    )
    (root / "current").symlink_to("module.wasm")
    return root


def write_manifest(root: Path, raw: dict[str, Any], **dumps: Any) -> None:
    (root / "module.json").write_text(json.dumps(raw, **dumps), encoding="utf-8")


# -- the documented algorithm --------------------------------------------------------------


def test_worked_example_in_the_docs(write_module):
    manifest = {
        "name": "@docs/example",
        "version": "1.0.0",
        "runtime": {"kind": "wasm", "entry": "module.wat"},
        "description": "Café",
        "signature": "SHA256:" + "0" * 64,
    }
    root = write_module({"module.wat": "(module)\n", "assets/hello.txt": "hi\n"}, manifest=manifest)
    (root / "module.wasm").unlink()
    (root / "current").symlink_to("module.wat")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.pyc").write_bytes(b"anything")

    assert digest_of(root) == WORKED_EXAMPLE_DIGEST
    assert module_digest(str(root), manifest) == WORKED_EXAMPLE_DIGEST
    assert WORKED_EXAMPLE_DIGEST in DOC.read_text(encoding="utf-8")

    canonical = canonical_manifest(manifest)
    assert len(canonical) == 111
    assert canonical.decode() in DOC.read_text(encoding="utf-8")
    (listing,) = [b for b in _doc_blocks("") if b.startswith("b'sandbench-digest-v1")]
    fed = b"".join(ast.literal_eval(line) for line in listing.splitlines())
    assert len(fed) == 220
    assert hashlib.sha256(fed).hexdigest() == WORKED_EXAMPLE_DIGEST


def test_canonical_manifest_bytes():
    raw = {"b": [1, 1.5, None, True], "a": {"z": "é\n\x01\x7f", "y": "\u2028"}, "signature": "x"}
    assert canonical_manifest(raw) == (
        b'{"a":{"y":"\xe2\x80\xa8","z":"\xc3\xa9\\n\\u0001\x7f"},"b":[1,1.5,null,true]}'
    )
    # Only the top-level signature is left out.
    assert canonical_manifest({"x": {"signature": 1}}) == b'{"x":{"signature":1}}'


@pytest.mark.parametrize(
    "layout",
    [
        {},
        {"a.txt": "1", "a/b": "2", "B": "3", "a-b": "4", "a0": "5"},
        {"sub/module.json": '{"not": "canonicalized"}'},
        {"empty": ""},
        {"é/ü.txt": "x", "e/u.txt": "y"},
        {"x.pyc/inside.txt": "a real folder named *.pyc is walked into"},
    ],
)
def test_matches_the_reference_implementation(write_module, layout):
    root = write_module(layout, manifest=EXAMPLE)
    (root / "link-to-dir").symlink_to("/usr")
    (root / "dangling").symlink_to("does/not/exist")
    assert digest_of(root) == module_digest(str(root), EXAMPLE)


# -- reproducible --------------------------------------------------------------------------


def test_same_digest_for_a_copy_elsewhere(module, tmp_path):
    copy = shutil.copytree(module, tmp_path / "elsewhere" / "deeper" / "copy", symlinks=True)
    assert digest_of(copy) == digest_of(module)
    assert re.fullmatch(r"[0-9a-f]{64}", digest_of(module))


def test_same_digest_loaded_twice(module):
    assert digest_of(module) == digest_of(module)


@pytest.mark.parametrize(
    "dumps",
    [
        {"indent": 4},
        {"separators": (",", ":")},
        {"ensure_ascii": True},
        {"ensure_ascii": False, "indent": "\t"},
    ],
)
def test_independent_of_manifest_formatting(module, dumps):
    before = digest_of(module)
    write_manifest(module, EXAMPLE, **dumps)
    assert digest_of(module) == before


def test_independent_of_manifest_key_order(module):
    before = digest_of(module)
    reordered = {k: EXAMPLE[k] for k in reversed(list(EXAMPLE))}
    reordered["security"] = {k: EXAMPLE["security"][k] for k in reversed(list(EXAMPLE["security"]))}
    write_manifest(module, reordered)
    assert digest_of(module) == before


def test_independent_of_the_signature(module):
    before = digest_of(module)
    unsigned = {k: v for k, v in EXAMPLE.items() if k != "signature"}
    write_manifest(module, unsigned)
    assert digest_of(module) == before
    write_manifest(module, {**unsigned, "signature": f"SHA256:{before}"})
    assert digest_of(module) == before


# -- complete: every change shows ----------------------------------------------------------


def flip_entry_byte(root):
    data = bytearray((root / "module.wasm").read_bytes())
    data[-1] ^= 1
    (root / "module.wasm").write_bytes(bytes(data))


def flip_deep_byte(root):
    path = root / "lib/deep/data.bin"
    data = bytearray(path.read_bytes())
    data[128] ^= 0x80
    path.write_bytes(bytes(data))


def append_newline(root):
    with (root / "lib/util.txt").open("ab") as file:
        file.write(b"\n")


def add_empty_file(root):
    (root / "lib/new.txt").touch()


def add_dotfile(root):
    (root / ".env").write_text("SECRET=1")


def rename_file(root):
    (root / "lib/util.txt").rename(root / "lib/util2.txt")


def move_file(root):
    (root / "lib/util.txt").rename(root / "lib/deep/util.txt")


def remove_file(root):
    (root / "café.txt").unlink()


def relink(root):
    (root / "current").unlink()
    (root / "current").symlink_to("lib/util.txt")


def link_to_file(root):
    (root / "current").unlink()
    shutil.copy(root / "module.wasm", root / "current")


def change_permission(root):
    raw = json.loads((root / "module.json").read_text())
    raw["security"]["permissions"][0] = "database:write:vendas_schema"
    write_manifest(root, raw)


def add_permission(root):
    raw = json.loads((root / "module.json").read_text())
    raw["security"]["permissions"].append("api:external:*.example.com")
    write_manifest(root, raw)


def change_limit(root):
    raw = json.loads((root / "module.json").read_text())
    raw["security"]["limits"]["memory"] = "257MB"
    write_manifest(root, raw)


def int_becomes_float(root):
    raw = json.loads((root / "module.json").read_text())
    raw["health"]["expect"]["status"] = 200.0
    write_manifest(root, raw)


CHANGES = [
    flip_entry_byte,
    flip_deep_byte,
    append_newline,
    add_empty_file,
    add_dotfile,
    rename_file,
    move_file,
    remove_file,
    relink,
    link_to_file,
    change_permission,
    add_permission,
    change_limit,
    int_becomes_float,
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__)
def test_changes_when_the_module_changes(module, change):
    before = digest_of(module)
    change(module)
    assert digest_of(module) != before


# -- blind to what it skips ----------------------------------------------------------------


@pytest.mark.parametrize(
    "skipped",
    [
        ".git/HEAD",
        ".git/objects/ab/cdef",
        "lib/.git/config",
        ".hg/store",
        ".svn/entries",
        "__pycache__/m.cpython-311.pyc",
        "lib/__pycache__/x.txt",
        ".sandbench/cache/blob",
        "tool.pyc",
        "lib/deep/x.pyc",
    ],
)
def test_ignores_vcs_caches_and_bytecode(module, skipped):
    before = digest_of(module)
    path = module / skipped
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"anything")
    assert digest_of(module) == before


def test_ignores_empty_folders(module):
    before = digest_of(module)
    (module / "empty" / "nested").mkdir(parents=True)
    assert digest_of(module) == before


def test_a_link_named_like_a_skipped_folder_still_counts(module, tmp_path):
    before = digest_of(module)
    (module / ".git").symlink_to(tmp_path)
    assert digest_of(module) != before


# -- links are hashed as links -------------------------------------------------------------


def test_link_to_a_file_outside_does_not_pull_its_content_in(module, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("one")
    (module / "outside").symlink_to(secret)
    before = digest_of(module)

    secret.write_text("two, and longer")
    assert digest_of(module) == before

    copy = shutil.copytree(module, tmp_path / "copy", symlinks=True)
    assert digest_of(copy) == before


def test_link_to_a_folder_outside_is_not_walked(module, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (module / "data").symlink_to(outside)
    before = digest_of(module)
    (outside / "new.txt").write_text("new")
    assert digest_of(module) == before


def test_link_inside_covers_target_once(module):
    before = digest_of(module)
    # `current` links to module.wasm: the link's text is unchanged, the file's bytes are not.
    (module / "module.wasm").write_bytes(b"\0asm\1\0\0\0changed")
    assert digest_of(module) != before


def test_dangling_link_is_hashed_as_its_text(module):
    (module / "dangling").symlink_to("nowhere")
    first = digest_of(module)
    (module / "dangling").unlink()
    (module / "dangling").symlink_to("elsewhere")
    assert digest_of(module) != first


# -- what cannot be digested ---------------------------------------------------------------


def test_fifo_raises_naming_the_file(module):
    os.mkfifo(module / "lib" / "pipe")
    with pytest.raises(ManifestError) as info:
        load(module)
    assert info.value.path == module.resolve()
    assert info.value.problems == [
        "lib/pipe: not a regular file or link; remove it from the module"
    ]


def test_socket_raises_naming_the_file(write_module, monkeypatch):
    # AF_UNIX paths are limited to ~100 bytes: bind a relative name from inside the module.
    root = write_module(name="m")
    monkeypatch.chdir(root)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("s")
        with pytest.raises(ManifestError) as info:
            load(root)
    assert info.value.problems == ["s: not a regular file or link; remove it from the module"]


def test_fifo_named_pyc_is_skipped(module):
    before = digest_of(module)
    os.mkfifo(module / "x.pyc")
    assert digest_of(module) == before


def test_too_many_files(module, monkeypatch):
    monkeypatch.setattr(digest, "MAX_FILES", 5)
    with pytest.raises(ManifestError) as info:
        load(module)
    assert info.value.problems == ["more than 5 files; a module should be far smaller"]


def test_too_many_bytes(module, monkeypatch):
    monkeypatch.setattr(digest, "MAX_TOTAL_BYTES", 100)
    with pytest.raises(ManifestError) as info:
        load(module)
    assert info.value.problems == ["module files exceed 2 GiB; a module should be far smaller"]


def test_unreadable_file_is_an_error_not_a_gap(module, monkeypatch):
    # Faked: the suite may run as root, whom file modes do not stop.
    real = Path.read_bytes
    unreadable = module.resolve() / "lib" / "util.txt"

    def read_bytes(self: Path) -> bytes:
        if self == unreadable:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(ManifestError) as info:
        load(module)
    assert info.value.problems == [f"{unreadable}: cannot be read (Permission denied)"]


def test_unreadable_folder_is_an_error_not_a_gap(module, monkeypatch):
    real = os.scandir
    unreadable = str(module.resolve() / "lib" / "deep")

    def scandir(path: Any = ".") -> Any:
        if os.fspath(path) == unreadable:
            raise PermissionError(13, "Permission denied", unreadable)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(ManifestError) as info:
        load(module)
    assert info.value.problems == [f"{unreadable}: cannot be read (Permission denied)"]


# -- signatures ----------------------------------------------------------------------------


def test_signature_ok(write_module):
    root = write_module(manifest=MINIMAL)
    actual = digest_of(root)
    assert load(root).signature_ok is None

    write_manifest(root, {**MINIMAL, "signature": f"SHA256:{actual}"})
    assert load(root).signature_ok is True

    write_manifest(root, {**MINIMAL, "signature": f"SHA256:{actual.upper()}"})
    assert load(root).signature_ok is True

    wrong = ("0" if actual[0] != "0" else "1") + actual[1:]
    write_manifest(root, {**MINIMAL, "signature": f"SHA256:{wrong}"})
    assert load(root).signature_ok is False


def test_signature_breaks_when_a_permission_is_added(write_module):
    root = write_module(manifest=MINIMAL)
    signed = {**MINIMAL, "signature": f"SHA256:{digest_of(root)}"}
    write_manifest(root, signed)
    assert load(root).signature_ok is True

    signed["security"] = {"permissions": ["database:write:*"]}
    write_manifest(root, signed)
    assert load(root).signature_ok is False
