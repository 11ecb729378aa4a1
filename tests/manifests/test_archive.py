"""Safe extraction: every kind of hostile archive is refused with one clear line."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
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
    assert (
        refused(tmp_path, archive) == f"entry {shown(entry.name)}: {problem}; refusing to extract"
    )


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


# -- links resolved as the kernel resolves them ---------------------------------------------


def links_archive(path: Path, links: list[tuple[str, str]], files=("m.wat",)) -> Path:
    members = [(member("module.json"), MANIFEST)]
    members += [(member(name), b"(module)") for name in files]
    members += [(member(name, tarfile.SYMTYPE, target), None) for name, target in links]
    return tar_gz(path, members)


@pytest.mark.parametrize(
    "links",
    [
        # each target is lexically inside; resolved component by component it is not
        [("dot", "."), ("esc", "dot/..")],
        [("dot", "."), ("esc", "dot/dot/dot/../..")],
        [("sub/up", ".."), ("esc", "sub/up/..")],
        [("d", "sub"), ("sub/x", "../d/.."), ("esc", "sub/x/..")],
        # a link through a folder that is a link, whose `..` is taken after resolving
        [("a", "b/c"), ("b/c", "../d"), ("d/e", ".."), ("esc", "a/e/../..")],
        # the escape is made by a later entry: the check runs when every entry is in
        [("esc", "later/.."), ("later", ".")],
        # a missing folder may appear later: `missing/../..` is two levels up
        [("esc", "missing/../..")],
        [("esc", "/etc/passwd")],
    ],
)
def test_a_link_whose_resolution_leaves_the_tree_is_refused(tmp_path, links):
    problem = refused(tmp_path, links_archive(tmp_path / "m.tgz", links))
    assert problem.startswith("entry ")
    assert "leaves the module" in problem or "absolute path" in problem


def test_links_that_loop_or_chain_too_deep_are_refused(tmp_path):
    loop = links_archive(tmp_path / "loop.tgz", [("a", "b"), ("b", "a"), ("c", "a/x")])
    assert "more than 40 links deep, or a loop" in refused(tmp_path, loop)
    chain = [(f"l{i}", f"l{i + 1}") for i in range(41)] + [("l41", "m.wat")]
    assert "more than 40 links deep" in refused(tmp_path, links_archive(tmp_path / "c.tgz", chain))


def test_links_that_resolve_inside_are_kept(tmp_path):
    chain = [(f"l{i}", f"l{i + 1}") for i in range(39)] + [("l39", "m.wat")]
    links = [*chain, ("d", "sub"), ("sub/x", "../m.wat"), ("via", "d/../d/x"), ("self", ".")]
    with opened(links_archive(tmp_path / "ok.tgz", links, ("m.wat", "sub/f"))) as root:
        assert (root / "l0").read_bytes() == b"(module)"
        assert (root / "via").read_bytes() == b"(module)"


@pytest.mark.parametrize("order", ["link first", "link after a file under it"])
def test_nothing_is_written_through_a_link(tmp_path, order):
    outside = tmp_path / "outside"
    outside.mkdir()
    link = (member("dir", tarfile.SYMTYPE, "../outside"), None)  # from the extraction folder
    write = (member("dir/evil"), b"x")
    entries = [link, write] if order == "link first" else [write, link]
    problem = refused(tmp_path, tar_gz(tmp_path / "m.tgz", entries))
    assert "goes through 'dir'" in problem or "appears twice" in problem
    assert list(outside.iterdir()) == []


def test_hard_links_are_refused_whatever_they_name(tmp_path):
    for target in ("module.json", "../../etc/passwd", "/etc/passwd", "link"):
        archive = tar_gz(
            tmp_path / "h.tgz",
            [(member("link", tarfile.SYMTYPE, "module.json"), None),
             (member("hard", tarfile.LNKTYPE, target), None)],
        )  # fmt: skip
        assert "hard links are not allowed" in refused(tmp_path, archive)


def test_a_zip_link_target_with_nul_or_too_long_is_refused(tmp_path):
    for target, problem in [(b"a\0b", "control characters"), (b"a" * 5000, "longer than 4096")]:
        archive = tmp_path / "l.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            info = zipfile.ZipInfo("link")
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
        assert problem in refused(tmp_path, archive)


# -- malformed archives: exit 2 and one short line, whatever the library raised ------------


def header(name: bytes, kind: bytes = b"0", size: int = 0, link: bytes = b"") -> bytes:
    """A ustar header block written by hand (tarfile refuses to write hostile ones)."""
    block = bytearray(512)
    block[0 : min(len(name), 100)] = name[:100]
    block[100:108] = b"0000644\0"
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"00000000000\0"
    block[148:156] = b" " * 8
    block[156:157] = kind
    block[157 : 157 + len(link[:100])] = link[:100]
    block[257:265] = b"ustar\x0000"
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def raw_tar(*entries: tuple[bytes, bytes]) -> bytes:
    """Headers each followed by its data padded to 512 bytes, then the end blocks."""
    out = b""
    for head, data in entries:
        out += head + data + bytes(-len(data) % 512)
    return out + bytes(1024)


def pax(*records: bytes) -> bytes:
    body = b""
    for record in records:
        size = len(record) + 2  # the space and the newline
        digits = len(str(size + len(str(size))))
        body += b"%d %s\n" % (size + digits, record)
    return body


def one_line(problem: str) -> str:
    assert "\n" not in problem
    assert problem.isprintable()
    assert len(problem) <= 300, len(problem)
    return problem


def write_gz(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data, compresslevel=1))
    return path


def test_a_64_mib_gnu_long_name_is_refused_in_one_short_line(tmp_path):
    name = b"a" * (64 * 1024 * 1024)
    tar = raw_tar((header(b"././@LongLink", b"L", len(name)), name), (header(b"x"), b""))
    problem = one_line(refused(tmp_path, write_gz(tmp_path / "long.tgz", tar)))
    assert "an extended header of 67108864 bytes (limit 65536)" in problem


def test_a_gnu_long_name_over_4096_bytes_is_refused(tmp_path):
    name = b"d/" * 3000
    tar = raw_tar((header(b"././@LongLink", b"L", len(name)), name), (header(b"x"), b""))
    problem = one_line(refused(tmp_path, write_gz(tmp_path / "long.tgz", tar)))
    assert "a GNU long name of 6000 bytes (limit 4096)" in problem


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        # CVE-2024-6232: Python 3.11.7 takes minutes over a long run of digits
        (b"2" * 200_000, "an extended header of 200000 bytes"),
        (b"2" * 60_000, "a run of over 64 digits"),
        (pax(b"comment=" + b"7" * 1000), "a run of over 64 digits"),
        (b"11 path=ab\n6 x=\n", "a malformed pax record at byte 11"),
        (b"99 path=ab\n", "a malformed pax record at byte 0"),
        (pax(b"size=100"), "a pax b'size' record"),
        (pax(b"GNU.sparse.major=1"), "a pax b'GNU.sparse.major' record"),
        (pax(b"path=" + b"p/" * 2500), "a pax path of 5000 bytes (limit 4096)"),
    ],
)
def test_pax_headers_are_checked_before_tarfile_parses_them(tmp_path, body, problem):
    tar = raw_tar((header(b"pax", b"x", len(body)), body), (header(b"x"), b""))
    assert problem in one_line(refused(tmp_path, write_gz(tmp_path / "pax.tgz", tar)))


def test_a_well_formed_pax_header_is_read(tmp_path):
    body = pax(b"path=module.json", b"mtime=1700000000.5")
    tar = raw_tar(
        (header(b"pax", b"x", len(body)), body), (header(b"ignored", size=len(MANIFEST)), MANIFEST)
    )
    with opened(write_gz(tmp_path / "ok.tgz", tar)) as root:
        assert (root / "module.json").read_bytes() == MANIFEST


@pytest.mark.parametrize(
    ("tar", "problem"),
    [
        ((header(b"a", b"x", 8), b"8 a=bcd\n"), "more than 4 extended headers in a row"),
        ((header(b"sparse", b"S", 0), b""), "a GNU sparse file"),
        ((header(b"big", b"0", 10**9), b""), "unpacks to more than"),
    ],
)
def test_other_hostile_tar_headers_are_refused_before_tarfile(tmp_path, tar, problem):
    entries = [tar] * 6 if b"more than 4" in problem.encode() else [tar]
    data = raw_tar(*entries)
    assert problem in one_line(refused(tmp_path, write_gz(tmp_path / "h.tgz", data)))


def test_a_corrupt_header_or_a_truncated_tar_is_refused_not_half_extracted(tmp_path):
    good = raw_tar(
        (header(b"module.json", size=len(MANIFEST)), MANIFEST),
        (header(b"m.wat", size=8), b"(module)"),
    )
    bad = bytearray(good)
    bad[1024 + 10] ^= 0xFF  # the second header's name: its checksum no longer matches
    assert "checksum is wrong" in one_line(
        refused(tmp_path, write_gz(tmp_path / "c.tgz", bytes(bad)))
    )
    for cut in (1024 + 100, 1024 + 512 + 3, len(good) - 1024):
        problem = one_line(refused(tmp_path, write_gz(tmp_path / "t.tgz", good[:cut])))
        assert "truncated" in problem or "end-of-archive" in problem


def test_a_corrupt_or_truncated_gzip_stream_is_one_line(tmp_path):
    good = gzip.compress(raw_tar((header(b"module.json", size=len(MANIFEST)), MANIFEST)))
    crc = bytearray(good)
    crc[-6] ^= 0xFF
    for data in (bytes(crc), good[:-4], good[: len(good) // 2], good[:12] + b"\xff" * 40):
        archive = tmp_path / "z.tar.gz"
        archive.write_bytes(data)
        assert one_line(refused(tmp_path, archive)).startswith("corrupt or unreadable archive")


@pytest.mark.parametrize("flags", ["czf", "cjf", "cJf", "cf"])
def test_tar_of_a_folder_with_dot_entries_is_accepted(tmp_path, flags):
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "module.json").write_bytes(MANIFEST)
    (folder / "m.wat").write_text("(module)")
    archive = tmp_path / "m.archive"
    subprocess.run(["tar", flags, str(archive), "-C", str(folder), "."], check=True)
    with tarfile.open(archive) as tar:
        assert tar.getnames()[0] == "."
    assert is_archive(archive)
    with opened(archive) as root:
        assert (root / "m.wat").read_text() == "(module)"


def zip_with(tmp_path: Path, name: str, data: bytes, method: int = zipfile.ZIP_STORED) -> Path:
    archive = Path(tempfile.mkstemp(suffix=".zip", dir=tmp_path)[1])
    with zipfile.ZipFile(archive, "w", compression=method) as zf:
        zf.writestr("module.json", MANIFEST)
        zf.writestr(name, data)
    return archive


def patched(archive: Path, old: bytes, new: bytes, count: int = -1) -> Path:
    data = archive.read_bytes()
    assert old in data
    archive.write_bytes(data.replace(old, new, count))
    return archive


def test_malformed_zips_are_one_line_naming_the_entry(tmp_path):
    payload = bytes(range(256)) * 40
    cases = []
    # an unsupported compression method (99) in the local and the central header
    archive = zip_with(tmp_path, "unsupported.bin", payload)
    data = bytearray(archive.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = data.rfind(sig)
        data[at + offset : at + offset + 2] = (99).to_bytes(2, "little")
    archive.write_bytes(bytes(data))
    cases.append((archive, "unsupported.bin"))
    for method in (zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_STORED):
        archive = zip_with(tmp_path, "corrupt.bin", payload, method)
        data = bytearray(archive.read_bytes())
        at = data.find(b"corrupt.bin") + len("corrupt.bin") + 20
        data[at : at + 8] = b"\xa5" * 8  # corrupt stream, or a CRC mismatch when stored
        archive.write_bytes(bytes(data))
        cases.append((archive, "corrupt.bin"))
    for archive, name in cases:
        problem = one_line(refused(tmp_path, archive))
        assert problem.startswith(f"entry '{name}': cannot be unpacked"), problem


def test_zip_names_empty_or_invalid_utf8_are_one_line(tmp_path):
    archive = patched(zip_with(tmp_path, "aXb", b"1"), b"aXb", b"a\xffb")
    data = bytearray(archive.read_bytes())
    at = data.rfind(b"PK\x01\x02")
    data[at + 8] |= 0x08  # general purpose flag bit 11 (0x800): names are UTF-8
    data[at + 9] |= 0x08
    archive.write_bytes(bytes(data))
    assert "not valid UTF-8: 'a\\xffb'" in one_line(refused(tmp_path, archive))
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo(""), b"x")
    assert one_line(refused(tmp_path, archive)) == "entry '': empty name; refusing to extract"


def test_truncated_zips_are_one_line(tmp_path):
    good = zip_with(tmp_path, "f.bin", bytes(5000), zipfile.ZIP_DEFLATED).read_bytes()
    for cut in (10, len(good) // 2, len(good) - 10):
        archive = tmp_path / "cut.zip"
        archive.write_bytes(good[:cut])
        one_line(refused(tmp_path, archive))


def test_a_zip_declaring_too_many_entries_is_refused_before_reading_them(tmp_path):
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(5):
            zf.writestr(f"f{i}", b"")
    problem = refused(tmp_path, archive, ArchiveLimits(max_entries=3))
    assert problem == "declares 5 entries, more than 3; refusing to extract"


def test_names_too_long_for_the_file_system_are_refused(tmp_path):
    for name, problem in [
        ("a" * 300, "longer than 255 bytes"),
        ("d/" * 2100 + "f", "longer than 4096"),
    ]:
        archive = tmp_path / "n.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr(name, b"x")
        assert problem in one_line(refused(tmp_path, archive))


def test_writes_never_follow_a_link_even_one_the_checks_did_not_see(tmp_path):
    # Defence in depth: every write walks the tree with O_NOFOLLOW, so a link planted in
    # the extraction folder by anything else is not followed either.
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "dir").symlink_to(outside)
    archive = tar_gz(tmp_path / "m.tgz", [(member("dir/evil"), b"x")])
    with pytest.raises(ManifestError) as info:
        extract(archive, dest, ArchiveLimits())
    [problem] = info.value.problems
    assert "Not a directory: 'dir'" in problem  # O_NOFOLLOW | O_DIRECTORY on a link
    assert list(outside.iterdir()) == []


def test_links_must_stay_in_the_module_folder_not_only_in_the_extraction_folder(tmp_path):
    # With everything in one top folder, that folder is the module: `m/esc` resolves to
    # the extraction folder itself, which is outside the module.
    archive = tar_gz(
        tmp_path / "m.tgz",
        [
            (member("m/module.json"), MANIFEST),
            (member("m/dot", tarfile.SYMTYPE, "."), None),
            (member("m/esc", tarfile.SYMTYPE, "dot/../m/dot/.."), None),
        ],
    )
    problem = refused(tmp_path, archive)
    assert (
        problem == "entry 'm/esc': link to 'dot/../m/dot/..' leaves the module; refusing to extract"
    )
