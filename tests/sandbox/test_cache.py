"""The compiled-module cache is verified before use: an entry that is not exactly what this
user's sandbench wrote for that key (flipped, truncated, swapped, foreign, unsigned) is
recompiled, never deserialized. Real wasmtime, real files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sandbench.errors import SandboxError
from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits
from sandbench.sandbox.cache import KEY_NAME, ArtifactCache
from sandbench.sandbox.wasm import WasmBackend

from . import wat

LIMITS = SandboxLimits(memory_bytes=16 * 1024 * 1024, cpu_millicores=1000, timeout_ms=1000)
OTHER = wat.respond(b"Status: 201\nContent-Type: text/plain\n\nother\n")


def _entry(backend: WasmBackend, package) -> Path:
    """The entry this module's loads read: the one its first load wrote."""
    keys = [key for (path, *_), key in backend._keys.items() if path == str(package.entry_path)]
    return backend._cache.path(keys[0])


def _answer(backend: WasmBackend, package) -> tuple[bool, int]:
    """(cache hit, status of one call) for a fresh load of `package`."""
    result = backend.load(package, LIMITS, Grants())
    assert result.violation is None, result.violation
    with result.instance as instance:
        outcome = instance.invoke(Request())
    assert outcome.ok, outcome.violation
    return result.cache_hit, outcome.response.status


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(64, len(data) - 64, max(1, len(data) // 16)):
        data[offset] ^= 0xFF  # flipped bytes all over the code
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _unsigned(path: Path) -> None:
    """The artifact as an older sandbench stored it: valid wasmtime bytes, no MAC."""
    path.write_bytes(path.read_bytes()[:-40])


TAMPERS = {"flipped": _flip, "truncated": _truncate, "unsigned": _unsigned}


def _written(cache: Path, package) -> Path:
    """Compile `package` into `cache` (as one process would) and return its entry."""
    with WasmBackend(cache) as backend:
        assert _answer(backend, package) == (False, 200)
        return _entry(backend, package)


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_a_tampered_entry_is_recompiled_and_runs(tmp_path, make_module, tamper):
    """A later process (a new backend) verifies the entry before using it."""
    package = load(make_module(wat.OK))
    entry = _written(tmp_path / "cache", package)
    TAMPERS[tamper](entry)
    with WasmBackend(tmp_path / "cache") as backend:
        assert _answer(backend, package) == (False, 200)
        assert backend.cache_rejected == 1
    with WasmBackend(tmp_path / "cache") as backend:
        assert _answer(backend, package) == (True, 200)  # the entry was overwritten
        assert backend.cache_rejected == 0


def test_a_backend_never_rereads_what_it_verified(tmp_path, make_module):
    """Within one backend the verified artifact is held: a later change to the file (even
    a valid artifact of another module) cannot reach it."""
    first, second = load(make_module(wat.OK)), load(make_module(OTHER))
    with WasmBackend(tmp_path / "cache") as backend:
        assert _answer(backend, first) == (False, 200)
        assert _answer(backend, second) == (False, 201)
        _entry(backend, first).write_bytes(_entry(backend, second).read_bytes())
        assert _answer(backend, first) == (True, 200)
        assert backend.cache_rejected == 0


def test_swapped_entries_and_a_foreign_valid_artifact_are_refused(tmp_path, make_module):
    """Each entry's MAC covers its key: moving valid, signed entries around fails them all."""
    first, second = load(make_module(wat.OK)), load(make_module(OTHER))
    with WasmBackend(tmp_path / "cache") as backend:
        assert _answer(backend, first) == (False, 200)
        assert _answer(backend, second) == (False, 201)
        a, b = _entry(backend, first), _entry(backend, second)
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    with WasmBackend(tmp_path / "cache") as backend:
        assert _answer(backend, first) == (False, 200)
        assert _answer(backend, second) == (False, 201)
        assert backend.cache_rejected == 2


def test_an_entry_signed_with_another_key_is_refused(tmp_path, make_module):
    """Another user's (or another cache's) valid, signed artifact for the same key."""
    package = load(make_module(wat.OK))
    foreign = _written(tmp_path / "theirs", package).read_bytes()
    _written(tmp_path / "mine", package).write_bytes(foreign)
    with WasmBackend(tmp_path / "mine") as mine:
        assert _answer(mine, package) == (False, 200)
        assert mine.cache_rejected == 1


def test_a_flipped_entry_does_not_kill_a_fresh_process(tmp_path, make_module):
    """The original symptom: a new process deserializing a flipped entry died of SIGILL."""
    package = load(make_module(wat.OK))
    cache = tmp_path / "cache"
    with WasmBackend(cache) as backend:
        _answer(backend, package)
        _flip(_entry(backend, package))
    script = (
        "import sys\n"
        "from sandbench.manifests import load\n"
        "from sandbench.sandbox import Grants, Request, SandboxLimits\n"
        "from sandbench.sandbox.wasm import WasmBackend\n"
        "limits = SandboxLimits(memory_bytes=1 << 24, cpu_millicores=1000, timeout_ms=1000)\n"
        "from pathlib import Path\n"
        "with WasmBackend(Path(sys.argv[2])) as b:\n"
        "    r = b.load(load(sys.argv[1]), limits, Grants())\n"
        "    with r.instance as i:\n"
        "        print(r.cache_hit, b.cache_rejected, i.invoke(Request()).response.status)\n"
        # As the console script ends (sandbench._entry._leave): wasmtime's WASI worker
        # threads can abort a process during interpreter finalization on a busy machine.
        "sys.stdout.flush()\n"
        "import os; os._exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(package.root), str(cache)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "1", "200"]


def test_the_key_is_made_private_with_the_cache(tmp_path):
    ArtifactCache(tmp_path / "c", ".bin")
    info = (tmp_path / "c" / KEY_NAME).stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_size == 32
    before = (tmp_path / "c" / KEY_NAME).read_bytes()
    ArtifactCache(tmp_path / "c", ".bin")  # a second opener keeps the key
    assert (tmp_path / "c" / KEY_NAME).read_bytes() == before


@pytest.mark.parametrize("problem", ["readable", "link", "short"])
def test_a_key_that_is_not_private_is_refused(tmp_path, problem):
    folder = tmp_path / "c"
    ArtifactCache(folder, ".bin")
    key = folder / KEY_NAME
    if problem == "readable":
        os.chmod(key, 0o644)
    elif problem == "link":
        (tmp_path / "elsewhere").write_bytes(key.read_bytes())
        key.unlink()
        key.symlink_to(tmp_path / "elsewhere")
    else:
        key.write_bytes(b"short")
    with pytest.raises(SandboxError, match="not private"):
        ArtifactCache(folder, ".bin")


def test_the_mapped_copy_is_private_and_holds_exactly_the_artifact(tmp_path):
    cache = ArtifactCache(tmp_path / "c", ".bin")
    data = os.urandom(100_000)
    cache.put("k", data)
    with cache.verified_file("k") as path:
        assert path is not None
        assert path.startswith("/proc/self/fd/")
        cache.path("k").write_bytes(b"changed after the check")  # the copy is unaffected
        assert Path(path).read_bytes() == data
    assert cache.rejected == 0
    with cache.verified_file("k") as path:
        assert path is None  # the changed entry fails
    assert cache.rejected == 1
    assert not cache.path("k").exists()


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_load_returns_only_verified_bytes(tmp_path, tamper):
    """`load` (the build cache's reader, and the WASM one without memfd) checks the MAC too."""
    cache = ArtifactCache(tmp_path / "c", ".bin")
    data = os.urandom(5000)
    cache.put("k", data)
    assert cache.load("k") == data
    TAMPERS[tamper](cache.path("k"))
    assert cache.load("k") is None
    assert cache.rejected == 1
    assert not cache.path("k").exists()
