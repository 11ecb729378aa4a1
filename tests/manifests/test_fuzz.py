"""Fuzzing the intake: mutated real archives and generated manifests have two outcomes only.

A module is loaded, or one `InvalidInput` line (printable, at most about 300 characters)
says what is wrong. Never another exception, never a second line, never a leftover
temporary folder. The archives are real: `examples/modules/hello` with a subfolder and a
link, packed by tarfile (gzip, bzip2, xz, none) and zipfile, then mutated by byte flips,
truncation, insertion and changes to header fields.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbench.errors import InvalidInput
from sandbench.manifests import ModulePackage, load
from sandbench.manifests.archive import opened
from tests.conftest import EXAMPLES

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))


def _module_folder(base: Path) -> Path:
    root = base / "hello"
    shutil.copytree(EXAMPLES / "hello", root)
    (root / "lib").mkdir()
    (root / "lib" / "notes.txt").write_text("notes\n" * 50)
    (root / "current").symlink_to("module.wat")
    return root


def _tar_bytes(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(root, arcname="hello")
    return buffer.getvalue()


def _zip_bytes(root: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            name = "hello/" + path.relative_to(root).as_posix()
            if path.is_symlink():
                info = zipfile.ZipInfo(name)
                info.external_attr = 0o120777 << 16
                zf.writestr(info, str(path.readlink()))
            elif path.is_file():
                zf.write(path, name)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = _module_folder(tmp_path_factory.mktemp("fuzz"))
    tar = _tar_bytes(root)
    return {
        "tar": tar,
        "tar.gz": gzip.compress(tar),
        "tar.bz2": bz2.compress(tar),
        "tar.xz": lzma.compress(tar),
        "zip": _zip_bytes(root),
    }


def _outcome(data: bytes, suffix: str) -> ModulePackage | InvalidInput:
    """Load `data` as an archive; the only allowed outcomes are returned. Extraction
    happens in a private temporary folder, which must be empty afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="fuzz-"))
    archive = scratch / f"m.{suffix}"
    archive.write_bytes(data)
    private = scratch / "tmp"
    private.mkdir()
    saved, tempfile.tempdir = tempfile.tempdir, str(private)
    try:
        with opened(archive) as root:
            return load(root)
    except InvalidInput as error:
        for line in error.problems:  # one for an archive, one per field for a manifest
            assert line.isprintable(), line
            assert len(line) <= 300, line
        return error
    finally:
        tempfile.tempdir = saved
        leftovers = list(private.iterdir())
        shutil.rmtree(scratch)
        assert leftovers == []


def test_the_unmutated_archives_load(originals):
    for suffix, data in originals.items():
        result = _outcome(data, suffix)
        assert isinstance(result, ModulePackage), (suffix, result)


def _mutate(draw: st.DrawFn, data: bytes) -> bytes:
    blob = bytearray(data)
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        action = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        at = draw(st.integers(min_value=0, max_value=max(len(blob) - 1, 0)))
        if action == "flip" and blob:
            blob[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif action == "set" and blob:
            blob[at] = draw(st.integers(min_value=0, max_value=255))
        elif action == "insert":
            blob[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif action == "delete":
            del blob[at : at + draw(st.integers(min_value=1, max_value=64))]
        else:
            del blob[at:]
    return bytes(blob)


@FUZZ
@given(st.data(), st.sampled_from(["tar", "tar.gz", "tar.bz2", "tar.xz", "zip"]))
def test_mutated_archives_load_or_are_one_line(originals, data, suffix):
    _outcome(_mutate(data.draw, originals[suffix]), suffix)


# Header fields of a ustar block: (offset, length).
TAR_FIELDS = {
    "name": (0, 100), "mode": (100, 8), "size": (124, 12), "checksum": (148, 8),
    "type": (156, 1), "linkname": (157, 100), "magic": (257, 8), "prefix": (345, 155),
}  # fmt: skip
FIELD_VALUES = st.sampled_from(
    [b"", b"..", b"/etc/passwd", b"../../x", b"\0" * 12, b"7" * 12, b"\x80" + b"\xff" * 11,
     b"\xff" * 12, b"x", b"L", b"K", b"S", b"5", b"2", b"1", b"3", b"g", b"x" * 100, b"a\nb"]
) | st.binary(max_size=16)  # fmt: skip


@FUZZ
@given(st.data(), st.sampled_from(["tar", "tar.gz"]), st.booleans())
def test_tar_header_fields_changed_load_or_are_one_line(originals, data, suffix, fix_checksum):
    tar = bytearray(originals["tar"])
    blocks = [i for i in range(0, len(tar), 512) if tar[i + 257 : i + 262] == b"ustar"]
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        block = data.draw(st.sampled_from(blocks))
        offset, length = TAR_FIELDS[data.draw(st.sampled_from(sorted(TAR_FIELDS)))]
        value = data.draw(FIELD_VALUES)[:length].ljust(length, b"\0")
        tar[block + offset : block + offset + length] = value
        if fix_checksum:
            tar[block + 148 : block + 156] = b" " * 8
            tar[block + 148 : block + 156] = b"%06o\0 " % sum(tar[block : block + 512])
    raw = bytes(tar)
    _outcome(gzip.compress(raw) if suffix == "tar.gz" else raw, suffix)


# Fields of zip local (PK\3\4) and central (PK\1\2) headers: (offset, length).
ZIP_FIELDS = {
    b"PK\x03\x04": [(4, 2), (6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)],
    b"PK\x01\x02": [(8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (38, 4), (42, 4)],
    b"PK\x05\x06": [(8, 2), (10, 2), (12, 4), (16, 4), (20, 2)],
}


@FUZZ
@given(st.data())
def test_zip_header_fields_changed_load_or_are_one_line(originals, data):
    blob = bytearray(originals["zip"])
    spots = [
        (at + offset, length)
        for signature, fields in ZIP_FIELDS.items()
        for at in _find_all(blob, signature)
        for offset, length in fields
    ]
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        at, length = data.draw(st.sampled_from(spots))
        value = data.draw(
            st.sampled_from([0, 1, 8, 12, 14, 99, 0xFFFF, 0xFFFFFFFF, 0x800, 0x1])
            | st.integers(min_value=0, max_value=2 ** (8 * length) - 1)
        )
        blob[at : at + length] = (value % 2 ** (8 * length)).to_bytes(length, "little")
    _outcome(bytes(blob), "zip")


def _find_all(blob: bytearray, needle: bytes) -> list[int]:
    found, at = [], blob.find(needle)
    while at >= 0:
        found.append(at)
        at = blob.find(needle, at + 1)
    return found


# -- generated manifests inside real archives ----------------------------------------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)
)
json_value = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=10,
)


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((EXAMPLES / "hello" / "module.json").read_text())
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        key = draw(st.sampled_from([*raw, "runtime", "security", "health", "extra"]))
        raw[key] = draw(json_value)
    return raw


@FUZZ
@given(manifests(), st.sampled_from(["tar.gz", "zip"]))
def test_generated_manifests_in_archives_load_or_are_one_line(tmp_path_factory, raw, suffix):
    root = _module_folder(tmp_path_factory.mktemp("gen"))
    (root / "module.json").write_text(json.dumps(raw), encoding="ascii")
    data = gzip.compress(_tar_bytes(root)) if suffix == "tar.gz" else _zip_bytes(root)
    result = _outcome(data, suffix)
    if isinstance(result, InvalidInput):
        assert result.problems
