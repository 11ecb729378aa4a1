"""Loading a module directory: `load(dir)`."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from sandbench.errors import ManifestError
from sandbench.manifests import ModulePackage, compute_digest, load
from tests.manifests.samples import EXAMPLE, MINIMAL


def load_problems(path: Path) -> tuple[Path, list[str]]:
    with pytest.raises(ManifestError) as info:
        load(path)
    return info.value.path, info.value.problems


def test_good_module(write_module, tmp_path, monkeypatch):
    root = write_module({"lib/data.txt": "hello\n"})
    monkeypatch.chdir(tmp_path)

    package = load("module/../module")

    assert isinstance(package, ModulePackage)
    assert package.root == root.resolve()
    assert package.root.is_absolute()
    assert re.fullmatch(r"[0-9a-f]{64}", package.digest)
    assert package.digest == compute_digest(root, MINIMAL)
    assert package.manifest.name == "minimal"
    assert package.entry_path == root.resolve() / "module.wasm"
    assert package.raw == MINIMAL
    assert package.signature_ok is None


def test_entry_in_a_subfolder(write_module):
    manifest = {**MINIMAL, "runtime": {"kind": "wasm", "entry": "build/m.wat"}}
    root = write_module({"build/m.wat": "(module)"}, manifest=manifest)
    assert load(root).entry_path == root / "build" / "m.wat"


def test_missing_directory(tmp_path):
    missing = tmp_path / "nope"
    assert load_problems(missing) == (
        missing,
        ["not a directory; give the folder that holds module.json"],
    )


def test_a_file_is_not_a_module(tmp_path):
    file = tmp_path / "module.json"
    file.write_text(json.dumps(MINIMAL))
    assert load_problems(file) == (
        file,
        ["not a directory; give the folder that holds module.json"],
    )


def test_missing_manifest_says_how_to_create_it(write_module):
    root = write_module(manifest=None)
    assert load_problems(root) == (
        root / "module.json",
        ["not found; create it (`sandbench manifest schema` shows the format)"],
    )


def test_manifest_over_one_mebibyte(write_module):
    root = write_module()
    body = json.dumps(MINIMAL)
    (root / "module.json").write_text(body + " " * (1024 * 1024 + 1 - len(body)))
    assert load_problems(root) == (
        root / "module.json",
        ["larger than 1 MiB; a manifest should be far smaller"],
    )


def test_manifest_of_exactly_one_mebibyte_loads(write_module):
    root = write_module()
    body = json.dumps(MINIMAL)
    (root / "module.json").write_text(body + " " * (1024 * 1024 - len(body)))
    assert (root / "module.json").stat().st_size == 1024 * 1024
    assert load(root).manifest.name == "minimal"


def test_manifest_that_is_a_link_is_refused(write_module, tmp_path):
    # The digest would cover the link's text, not the manifest it points to.
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps(MINIMAL))
    root = write_module(manifest=None)
    (root / "module.json").symlink_to(outside)
    assert load_problems(root) == (
        root / "module.json",
        ["is a link; it must be a regular file in the module"],
    )


def test_missing_entry(write_module):
    root = write_module(manifest=EXAMPLE)
    (root / "module.wasm").unlink()
    resolved = root.resolve()
    assert load_problems(root) == (
        root / "module.json",
        [f'runtime.entry: "module.wasm" does not exist in {resolved}; build it first'],
    )


def test_entry_that_is_a_folder_does_not_count(write_module):
    manifest = {**MINIMAL, "runtime": {"kind": "wasm", "entry": "dir.wasm"}}
    root = write_module({"dir.wasm/x": "x"}, manifest=manifest)
    (_, lines) = load_problems(root)
    assert lines == [
        f'runtime.entry: "dir.wasm" does not exist in {root.resolve()}; build it first'
    ]


@pytest.mark.parametrize("target", ["inside", "outside"])
def test_entry_that_is_a_link_is_refused(write_module, tmp_path, target):
    real = tmp_path / "real.wasm" if target == "outside" else None
    root = write_module({"real.wasm": b"\0asm"})
    (root / "module.wasm").unlink()
    (root / "module.wasm").symlink_to(real or root / "real.wasm")
    if real is not None:
        real.write_bytes(b"\0asm")
    assert load_problems(root) == (
        root / "module.json",
        ['runtime.entry: "module.wasm" must not be a link'],
    )


def test_entry_through_a_linked_folder_outside_is_refused(write_module, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "m.wasm").write_bytes(b"\0asm")
    manifest = {**MINIMAL, "runtime": {"kind": "wasm", "entry": "lib/m.wasm"}}
    root = write_module(manifest=manifest)
    (root / "lib").symlink_to(outside)
    assert load_problems(root) == (
        root / "module.json",
        ['runtime.entry: "lib/m.wasm" must not be a link'],
    )


def test_entry_through_a_loop_of_links_is_refused(write_module):
    manifest = {**MINIMAL, "runtime": {"kind": "wasm", "entry": "loop/m.wasm"}}
    root = write_module(manifest=manifest)
    (root / "loop").symlink_to("loop")
    assert load_problems(root) == (
        root / "module.json",
        ['runtime.entry: "loop/m.wasm" must not be a link'],
    )


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (
            b"{",
            "not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2",
        ),
        (b"", "not valid JSON: Expecting value at line 1, column 1"),
        (
            b"\xff\xfe\x00",
            "not valid JSON: 'utf-16-le' codec can't decode byte 0x00 in position 2: truncated data",
        ),
        (
            b"\x80{}",
            "not valid JSON: 'utf-8' codec can't decode byte 0x80 in position 0: invalid start byte",
        ),
        (b"[]", "expected a JSON object at the top level"),
    ],
)
def test_unreadable_json(write_module, content, line):
    root = write_module(manifest=None)
    (root / "module.json").write_bytes(content)
    assert load_problems(root) == (root / "module.json", [line])


def test_manifest_that_cannot_be_read(write_module, monkeypatch):
    # Faked: the suite may run as root, whom file modes do not stop.
    root = write_module()
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "module.json":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    assert load_problems(root) == (root / "module.json", ["cannot be read: Permission denied"])


def test_invalid_manifest_names_the_file_and_every_problem(write_module):
    root = write_module(manifest={**MINIMAL, "version": "1.0", "extra": True})
    path, lines = load_problems(root)
    assert path == root / "module.json"
    assert lines == [
        'version: "1.0" is invalid: expected a semantic version such as 2.1.0 or 1.0.0-rc.1',
        "extra: unexpected field; remove it or check its spelling",
    ]


def test_fifo_in_the_tree_is_named(write_module):
    root = write_module()
    os.mkfifo(root / "pipe")
    assert load_problems(root) == (
        root.resolve(),
        ["pipe: not a regular file or link; remove it from the module"],
    )


@pytest.mark.parametrize(
    "links",
    [
        [("dot", "."), ("esc", "dot/..")],
        [("dot", "."), ("esc", "dot/dot/../..")],
        [("lib/up", ".."), ("esc", "lib/up/..")],
        [("esc", "missing/../..")],
        [("a", "b"), ("b", "a")],
        [("abs", "/etc")],
    ],
)
def test_a_folder_whose_links_resolve_outside_is_refused(write_module, links):
    # The same check as for archives (manifests.links): a folder module is input too.
    root = write_module({"lib/x.txt": "x"})
    for name, target in links:
        (root / name).symlink_to(target)
    path, [problem] = load_problems(root)
    assert path == root.resolve()
    assert re.fullmatch(r"'[a-z/]+': link to '[^']+' (leaves the module|more than 40 links deep, "
                        r"or a loop|an absolute path; .*); replace the link by the file it names",
                        problem), problem  # fmt: skip


def test_links_that_stay_inside_a_folder_are_digested(write_module):
    root = write_module({"lib/x.txt": "x"})
    (root / "dot").symlink_to(".")
    (root / "via").symlink_to("dot/lib/../lib/x.txt")
    (root / "dangling").symlink_to("nothing/here")
    assert len(load(root).digest) == 64
