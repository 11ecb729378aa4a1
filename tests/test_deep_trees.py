"""Folder trees nested thousands deep: in an upload (archive or folder) and made by a
running module in its writable bucket; and `sandbench._tree`, which walks and removes
them without recursion, never through links. Each is a one-line refusal or a `storage`
violation through the real CLI; nothing is left in the temporary folder, never a
`RecursionError` (Python 3.11's `os.walk` and `shutil.rmtree` recurse once per level)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from sandbench._tree import MAX_DEPTH, remove_tree, visit, walk

from .conftest import EXAMPLES
from .sandbox import wat

SANDBENCH = str(Path(sys.executable).parent / "sandbench")


@pytest.fixture(autouse=True)
def _no_deep_leftovers(tmp_path):
    """Remove what the test nested: pytest's own clean-up of old temporary folders uses
    `shutil.rmtree`, which a 1,500-deep tree would crash for every later session."""
    yield
    remove_tree(tmp_path)


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI with a private, empty TMPDIR (checked empty afterwards by the caller)."""
    private = tmp_path / "tmp"
    private.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(private), "SANDBENCH_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run(
        [SANDBENCH, "-q", *args], env=env, capture_output=True, text=True, timeout=300
    )


def one_line_error(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("sandbench: error:")]
    assert len(lines) == 1, done.stderr
    assert len(lines[0]) < 400
    for text in expected:
        assert text in lines[0]


def nested(depth: int) -> str:
    return "/".join(["d"] * depth)


def deep_archive(path: Path, depth: int) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name in ("module.json", "module.wat"):
            tar.add(EXAMPLES / "hello" / name, arcname=name)
        info = tarfile.TarInfo(f"{nested(depth)}/x.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    return path


def test_an_archive_nested_past_the_depth_cap_is_one_line_and_leaves_nothing(tmp_path):
    done = run(tmp_path, "gate", str(deep_archive(tmp_path / "deep.tgz", 1500)))
    one_line_error(done, "deep.tgz", f"folders nested more than {MAX_DEPTH} deep")
    assert list((tmp_path / "tmp").iterdir()) == []


def test_an_archive_nested_to_the_cap_extracts_and_is_judged(tmp_path):
    done = run(tmp_path, "gate", str(deep_archive(tmp_path / "ok.tgz", MAX_DEPTH)), "-f", "json")
    assert done.returncode in (0, 1), done.stderr  # judged (its signature no longer matches)
    assert json.loads(done.stdout)["moduleId"] == "@examples/hello"
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_folder_module_nested_past_the_cap_is_one_line(tmp_path):
    module = tmp_path / "module"
    module.mkdir()
    for name in ("module.json", "module.wat"):
        (module / name).write_bytes((EXAMPLES / "hello" / name).read_bytes())
    _chain(module, 1500)
    done = run(tmp_path, "check", str(module))
    one_line_error(done, f"folders nested more than {MAX_DEPTH} deep", "flatten the module")


def _chain(root: Path, depth: int, *, leaf: bool = False) -> None:
    """`d/d/.../d` under `root` (with an empty file `leaf` at the bottom), made through
    descriptors: the path outgrows PATH_MAX."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    if leaf:
        os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.close(fd)


# A module that makes a chain of `depth` folders in its writable bucket (fd 3): create
# `d`, open it, close the one before, again. Then it answers 200.
_MKDIR_IMPORTS = (
    f'(import "{wat.WASI}" "path_create_directory" (func $mkdir (param i32 i32 i32) (result i32)))'
    f'(import "{wat.WASI}" "path_open" (func $open '
    "(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"
    f'(import "{wat.WASI}" "fd_close" (func $close (param i32) (result i32)))'
)


def chain_maker(depth: int) -> str:
    return wat.command(
        f"""
    (local $fd i32) (local $i i32)
    (local.set $fd (i32.const 3))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (i32.const {depth})))
      (drop (call $mkdir (local.get $fd) (i32.const 64) (i32.const 1)))
      (br_if $done (call $open (local.get $fd) (i32.const 0) (i32.const 64) (i32.const 1)
        (i32.const 2) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 304)))
      (if (i32.ne (local.get $fd) (i32.const 3))
        (then (drop (call $close (local.get $fd)))))
      (local.set $fd (i32.load (i32.const 304)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (drop (call $write (i32.const 1) (i32.const 65) (i32.const 13)))""",
        data=b"dStatus: 200\n\n",
        imports=_MKDIR_IMPORTS,
    )


def test_folders_a_module_nests_in_its_bucket_count_against_storage(tmp_path, make_module):
    # 3,000 folders are 12 MB on disk (their own blocks) for a 10 MB limit; before, the
    # quota counted files only, missed everything past PATH_MAX, and removing the bucket
    # ended in "internal error: RecursionError" with the 3,000 folders left behind.
    limits = {"memory": "16MiB", "cpu": "1", "timeout": "10s", "storage": "10MB"}
    module = make_module(chain_maker(3000), limits=limits, permissions=["storage:write:docs"])
    done = run(tmp_path, "check", str(module), "--format", "json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
    report = json.loads(done.stdout)
    assert [v["kind"] for v in report["violations"]] == ["storage"]
    assert "limits.storage (10,000,000)" in report["violations"][0]["message"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_bucket_nested_deeper_than_recursion_allows_is_removed_after_the_run(
    tmp_path, make_module
):
    # 1,500 folders (6 MB) stay under the limit: the module is answered, and its bucket,
    # deeper than Python's recursion limit, is removed with the workspace.
    limits = {"memory": "16MiB", "cpu": "1", "timeout": "10s", "storage": "10MB"}
    module = make_module(chain_maker(1500), limits=limits, permissions=["storage:write:docs"])
    done = run(tmp_path, "check", str(module), "--format", "json")
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
    report = json.loads(done.stdout)
    assert report["violations"] == []
    assert set(report["health"]["statuses"]) == {200}
    assert list((tmp_path / "tmp").iterdir()) == []


# -- sandbench._tree ----------------------------------------------------------------------


def _tree(root: Path) -> None:
    for folder in ("a/b/c", "a/e", "f"):
        (root / folder).mkdir(parents=True)
    for file in ("x", "a/y", "a/b/c/z", "f/w"):
        (root / file).write_text(file)


def test_walk_yields_what_os_walk_yields(tmp_path):
    _tree(tmp_path)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    ours = sorted((d, sorted(ds), sorted(fs)) for d, ds, fs in walk(tmp_path))
    theirs = sorted((d, sorted(ds), sorted(fs)) for d, ds, fs in os.walk(tmp_path))
    assert ours == theirs


def test_walk_skips_pruned_folders(tmp_path):
    _tree(tmp_path)
    seen = []
    for folder, dirnames, _files in walk(tmp_path):
        seen.append(Path(folder).relative_to(tmp_path).as_posix())
        dirnames[:] = [d for d in dirnames if d != "a"]
    assert sorted(seen) == [".", "f"]


def test_a_tree_deeper_than_path_max_is_visited_whole_and_removed(tmp_path):
    root = tmp_path / "deep"
    root.mkdir()
    _chain(root, 3000, leaf=True)  # 6,000 bytes of path: past PATH_MAX and the recursion limit
    entries = []
    visit(root, lambda _fd, name, _info: entries.append(name))
    assert len(entries) == 3001
    assert entries[-1] == "leaf"
    remove_tree(root)
    assert not root.exists()


def test_removal_never_follows_a_link_out_of_the_tree(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    root = tmp_path / "root"
    _tree(root)
    (root / "a" / "b" / "out").symlink_to(outside)
    (root / "file-link").symlink_to(outside / "keep")
    remove_tree(root)
    assert not root.exists()
    assert (outside / "keep").read_text() == "keep"


def test_removing_what_is_not_there_or_a_file_is_harmless(tmp_path):
    remove_tree(tmp_path / "missing")
    file = tmp_path / "file"
    file.write_text("x")
    remove_tree(file)
    assert not file.exists()
