"""The storage capability on real folders: grants, quota, and every way out of a bucket."""

from __future__ import annotations

import os

import pytest

from sandbench.hostapi import Code, Storage


@pytest.fixture
def buckets(tmp_path):
    docs, scratch, other = (tmp_path / name for name in ("docs", "scratch", "other"))
    for path in (docs, scratch, other):
        path.mkdir()
    (docs / "readme.txt").write_bytes(b"hello docs")
    (other / "secret.txt").write_bytes(b"top secret")
    return docs, scratch, other


def make(buckets, recorder, quota=1000):
    docs, scratch, _ = buckets
    return Storage({"docs": docs}, {"scratch": scratch}, quota, recorder)


def test_read_write_list_round_trip(buckets, recorder):
    storage = make(buckets, recorder)
    assert storage.read("docs", "readme.txt", 100).data == b"hello docs"
    assert storage.write("scratch", "out/report.csv", b"a,b\n").value == 4
    assert storage.read("scratch", "out/report.csv", 100).data == b"a,b\n"
    assert storage.list("scratch", "", 100).data == b"out/\n"
    assert storage.list("scratch", "out", 100).data == b"report.csv\n"
    assert [c.code for c in recorder.drain().calls] == ["ok"] * 5


def test_read_only_bucket_refuses_writes(buckets, recorder):
    assert make(buckets, recorder).write("docs", "x.txt", b"x").code is Code.DENIED
    (call,) = recorder.drain().denied
    assert (call.capability, call.action, call.target) == ("storage", "write", "docs/x.txt")
    assert "read-only" in call.detail
    assert not (buckets[0] / "x.txt").exists()


def test_ungranted_bucket_is_denied(buckets, recorder):
    assert make(buckets, recorder).read("other", "secret.txt", 100).code is Code.DENIED
    assert recorder.drain().denied[0].target == "other/secret.txt"


@pytest.mark.parametrize(
    "key",
    [
        "../other/secret.txt",
        "/etc/passwd",
        "a/../../other/secret.txt",
        "./readme.txt",
        "a//b",
        "",
        "x\0y",
    ],
)
def test_keys_that_leave_or_bend_the_bucket_are_denied(buckets, recorder, key):
    storage = make(buckets, recorder)
    assert storage.read("docs", key, 100).code is Code.DENIED
    assert storage.write("scratch", key, b"x").code is Code.DENIED
    assert len(recorder.drain().denied) == 2


def test_symlinks_are_never_followed(buckets, recorder):
    docs, scratch, other = buckets
    os.symlink(other / "secret.txt", scratch / "link.txt")
    os.symlink(other, scratch / "linkdir")
    os.symlink("../other/secret.txt", docs / "relative.txt")
    storage = make(buckets, recorder)
    assert storage.read("scratch", "link.txt", 100).code is Code.DENIED
    assert storage.read("scratch", "linkdir/secret.txt", 100).code is Code.DENIED
    assert storage.read("docs", "relative.txt", 100).code is Code.DENIED
    assert storage.write("scratch", "link.txt", b"overwrite").code is Code.DENIED
    assert storage.write("scratch", "linkdir/new.txt", b"x").code is Code.DENIED
    assert (other / "secret.txt").read_bytes() == b"top secret"
    assert not (other / "new.txt").exists()
    assert len(recorder.drain().denied) == 5


def test_listing_skips_symlinks(buckets, recorder):
    docs, _, other = buckets
    os.symlink(other, docs / "escape")
    assert make(buckets, recorder).list("docs", "", 100).data == b"readme.txt\n"


def test_quota_counts_existing_files_and_refuses_growth(buckets, recorder):
    storage = make(buckets, recorder, quota=30)  # docs already holds 10 bytes
    assert storage.used_bytes == 10
    assert storage.write("scratch", "a.bin", b"x" * 20).code is Code.OK
    assert storage.write("scratch", "b.bin", b"y").code is Code.QUOTA
    assert storage.write("scratch", "a.bin", b"x" * 5).code is Code.OK  # shrinking is fine
    assert storage.write("scratch", "b.bin", b"y" * 15).code is Code.OK
    assert storage.used_bytes == 30
    denied = recorder.drain().denied
    assert [d.code for d in denied] == ["quota"]
    assert "limits.storage" in denied[0].detail
    assert (buckets[1] / "b.bin").read_bytes() == b"y" * 15


def test_missing_and_oversized_objects(buckets, recorder):
    storage = make(buckets, recorder)
    assert storage.read("docs", "nope.txt", 100).code is Code.NOT_FOUND
    assert storage.read("docs", "readme.txt", 3).code is Code.TOO_LARGE
    assert storage.list("docs", "nope", 100).code is Code.NOT_FOUND
    assert storage.list("docs", "", 3).code is Code.TOO_LARGE
    assert storage.read("scratch", "missing/x", 100).code is Code.NOT_FOUND


def test_files_written_behind_the_capability_count_against_the_quota(buckets, recorder):
    storage = make(buckets, recorder, quota=30)
    (buckets[1] / "via-wasi.bin").write_bytes(b"z" * 15)  # as a WASI preopen write would
    assert storage.write("scratch", "a.bin", b"x" * 10).code is Code.QUOTA
    assert storage.write("scratch", "a.bin", b"x" * 5).code is Code.OK
