"""Safe extraction: every kind of hostile archive is refused with one clear line."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from sandbench.errors import ManifestError
from sandbench.manifests.archive import ArchiveLimits, extract, is_archive, opened
from sandbench.manifests.text import shown

MANIFEST = json.dumps(
    {"name": "a", "version": "1.0.0", "runtime": {"kind": "wasm", "entry": "m.wat"}}
).encode()


def tar_gz(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o644
    return info


def refused(tmp_path: Path, archive: Path, limits: ArchiveLimits | None = None) -> str:
    dest = Path(tempfile.mkdtemp(dir=tmp_path))
    with pytest.raises(ManifestError) as info:
        extract(archive, dest, limits or ArchiveLimits())
    assert len(info.value.problems) == 1
    return info.value.problems[0]


def test_a_good_tar_gz_extracts_to_its_top_folder(tmp_path):
    archive = tar_gz(
        tmp_path / "m.tar.gz",
        [
            (member("mod/", tarfile.DIRTYPE), None),
            (member("mod/module.json"), MANIFEST),
            (member("mod/m.wat"), b"(module)"),
            (member("mod/lib/link", tarfile.SYMTYPE, "../m.wat"), None),
        ],
    )
    assert is_archive(archive)
    with opened(archive) as root:
        assert root.name == "mod"
        assert (root / "module.json").read_bytes() == MANIFEST
        assert (root / "lib" / "link").read_bytes() == b"(module)"
        scratch = root.parent
    assert not scratch.exists()


def test_a_good_zip_extracts_with_module_json_at_the_top(tmp_path):
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("module.json", MANIFEST)
        zf.writestr("m.wat", "(module)")
    with opened(archive) as root:
        assert (root / "m.wat").read_text() == "(module)"


def test_a_folder_is_used_as_it_is(tmp_path):
    with opened(tmp_path) as root:
        assert root == tmp_path


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (member("../evil"), "path leaves the archive through '..'"),
        (member("mod/../../evil"), "path leaves the archive through '..'"),
        (member("/etc/cron.d/evil"), "absolute path"),
        (member("link", tarfile.SYMTYPE, "/etc/passwd"), "link to the absolute path '/etc/passwd'"),
        (member("a/link", tarfile.SYMTYPE, "../../x"), "link to '../../x' leaves the module"),
        (member("hard", tarfile.LNKTYPE, "module.json"), "hard links are not allowed"),
        (member("dev", tarfile.CHRTYPE), "is a device, FIFO or other special file"),
        (member("fifo", tarfile.FIFOTYPE), "is a device, FIFO or other special file"),
        (member("bad\\name"), "the name has backslashes or control characters"),
        (member("bad\nname"), "the name has backslashes or control characters"),
    ],
)
def test_hostile_tar_entries_are_refused(tmp_path, entry, problem):
    data = b"x" if entry.type == tarfile.REGTYPE else None
    archive = tar_gz(tmp_path / "m.tgz", [(member("module.json"), MANIFEST), (entry, data)])
    assert refused(tmp_path, archive) == f"entry {shown(entry.name)}: {problem}; refusing to extract"


def test_writing_through_a_link_is_refused(tmp_path):
    archive = tar_gz(
        tmp_path / "m.tgz",
        [
            (member("dir", tarfile.SYMTYPE, "."), None),
            (member("dir/file"), b"x"),
        ],
    )
    assert refused(tmp_path, archive).endswith(
        "goes through 'dir', which is a link; refusing to extract"
    )


def test_a_duplicate_entry_is_refused(tmp_path):
    archive = tar_gz(tmp_path / "m.tgz", [(member("a"), b"1"), (member("./a"), b"2")])
    assert "appears twice" in refused(tmp_path, archive)


def test_a_size_bomb_is_refused_on_bytes_written(tmp_path):
    archive = tar_gz(tmp_path / "m.tgz", [(member("big"), b"\0" * 3_000_000)])
    problem = refused(tmp_path, archive, ArchiveLimits(max_bytes=2_000_000, max_ratio=1e9))
    assert problem == "entry 'big': unpacks to more than 2000000 bytes; refusing to extract"


def test_a_ratio_bomb_is_refused(tmp_path):
    archive = tar_gz(tmp_path / "m.tgz", [(member("zeros"), b"\0" * 20_000_000)])
    assert archive.stat().st_size < 100_000
    assert "its packed size (a bomb?)" in refused(tmp_path, archive)


def test_too_many_entries_are_refused(tmp_path):
    archive = tar_gz(tmp_path / "m.tgz", [(member(f"f{i}"), b"") for i in range(5)])
    assert "more than 3 entries" in refused(tmp_path, archive, ArchiveLimits(max_entries=3))


def test_zip_symlink_leaving_the_tree_and_zip_slip_are_refused(tmp_path):
    archive = tmp_path / "slip.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../evil.sh", "echo pwned")
    assert "path leaves the archive" in refused(tmp_path, archive)
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("escape")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "../../../etc/passwd")
    assert "leaves the module" in refused(tmp_path, archive)


def test_a_corrupt_archive_is_one_line(tmp_path):
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(gzip.compress(b"not a tar at all" * 100)[:60])
    problem = refused(tmp_path, archive)
    assert problem.startswith("corrupt or unreadable archive")


def test_an_archive_without_a_manifest_says_so(tmp_path):
    archive = tar_gz(tmp_path / "m.tgz", [(member("a/x"), b"1"), (member("b/y"), b"2")])
    assert "no module.json" in refused(tmp_path, archive)


def test_a_failed_extraction_leaves_no_temporary_folder(tmp_path, monkeypatch):
    archive = tar_gz(tmp_path / "m.tgz", [(member("../evil"), b"x")])
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))  # not shared with other runs
    with pytest.raises(ManifestError), opened(archive):
        pass
    assert list(private.iterdir()) == []
