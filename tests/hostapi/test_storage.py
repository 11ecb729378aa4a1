"""The storage capability on real folders: grants, quota, and every way out of a bucket."""

from __future__ import annotations

import os
import shutil
import threading

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


@pytest.fixture
def make():
    made = []

    def storage(buckets, recorder, quota=1000):
        docs, scratch, _ = buckets
        made.append(Storage({"docs": docs}, {"scratch": scratch}, quota, recorder))
        return made[-1]

    yield storage
    for storage in made:
        storage.close()


def test_read_write_list_round_trip(buckets, recorder, make):
    storage = make(buckets, recorder)
    assert storage.read("docs", "readme.txt", 100).data == b"hello docs"
    assert storage.write("scratch", "out/report.csv", b"a,b\n").value == 4
    assert storage.read("scratch", "out/report.csv", 100).data == b"a,b\n"
    assert storage.list("scratch", "", 100).data == b"out/\n"
    assert storage.list("scratch", "out", 100).data == b"report.csv\n"
    assert [c.code for c in recorder.drain().calls] == ["ok"] * 5


def test_read_only_bucket_refuses_writes(buckets, recorder, make):
    assert make(buckets, recorder).write("docs", "x.txt", b"x").code is Code.DENIED
    (call,) = recorder.drain().denied
    assert (call.capability, call.action, call.target) == ("storage", "write", "docs/x.txt")
    assert "read-only" in call.detail
    assert not (buckets[0] / "x.txt").exists()


def test_ungranted_bucket_is_denied(buckets, recorder, make):
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
def test_keys_that_leave_or_bend_the_bucket_are_denied(buckets, recorder, make, key):
    storage = make(buckets, recorder)
    assert storage.read("docs", key, 100).code is Code.DENIED
    assert storage.write("scratch", key, b"x").code is Code.DENIED
    assert len(recorder.drain().denied) == 2


def test_symlinks_are_never_followed(buckets, recorder, make):
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


def test_listing_skips_symlinks(buckets, recorder, make):
    docs, _, other = buckets
    os.symlink(other, docs / "escape")
    assert make(buckets, recorder).list("docs", "", 100).data == b"readme.txt\n"


def test_quota_counts_existing_files_and_refuses_growth(buckets, recorder, make):
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


def test_missing_and_oversized_objects(buckets, recorder, make):
    storage = make(buckets, recorder)
    assert storage.read("docs", "nope.txt", 100).code is Code.NOT_FOUND
    assert storage.read("docs", "readme.txt", 3).code is Code.TOO_LARGE
    assert storage.list("docs", "nope", 100).code is Code.NOT_FOUND
    assert storage.list("docs", "", 3).code is Code.TOO_LARGE
    assert storage.read("scratch", "missing/x", 100).code is Code.NOT_FOUND


def test_files_written_behind_the_capability_count_against_the_quota(buckets, recorder, make):
    storage = make(buckets, recorder, quota=30)
    (buckets[1] / "via-wasi.bin").write_bytes(b"z" * 15)  # as a WASI preopen write would
    assert storage.write("scratch", "a.bin", b"x" * 10).code is Code.QUOTA
    assert storage.write("scratch", "a.bin", b"x" * 5).code is Code.OK


def _open_descriptors():
    return set(os.listdir("/proc/self/fd"))


def test_bucket_folders_are_opened_once_and_closed_with_the_storage(buckets, recorder, make):
    storage = make(buckets, recorder)
    before = _open_descriptors()
    for _ in range(3):
        assert storage.read("docs", "readme.txt", 100).data == b"hello docs"
        assert storage.write("scratch", "a/b.txt", b"x").code is Code.OK
    assert len(_open_descriptors() - before) == 2  # one per bucket used, not one per call
    storage.close()
    storage.close()  # twice is harmless
    assert _open_descriptors() - before == set()
    # A call after close opens the folder again (HostApi.close closes it with the rest).
    assert storage.list("scratch", "a", 100).data == b"b.txt\n"


def test_a_bucket_folder_replaced_since_its_first_use_is_opened_again(buckets, recorder, make):
    storage = make(buckets, recorder)
    docs = buckets[0]
    assert storage.read("docs", "readme.txt", 100).data == b"hello docs"
    shutil.rmtree(docs)
    assert storage.read("docs", "readme.txt", 100).code is Code.NOT_FOUND
    docs.mkdir()
    (docs / "readme.txt").write_bytes(b"new docs")
    assert storage.read("docs", "readme.txt", 100).data == b"new docs"
    assert [c.code for c in recorder.drain().calls] == ["ok", "not-found", "ok"]


def test_a_fifo_in_a_bucket_is_refused_without_waiting_for_a_writer(buckets, recorder, make):
    storage = make(buckets, recorder)
    fifo = buckets[1] / "pipe"
    os.mkfifo(fifo)
    results = []
    reader = threading.Thread(target=lambda: results.append(storage.read("scratch", "pipe", 9)))
    reader.start()
    reader.join(30)  # it answers at once; 30 s only bounds a regression
    blocked = reader.is_alive()
    if blocked:  # waiting in open() for a writer: let it go before failing
        os.close(os.open(fifo, os.O_WRONLY))
        reader.join()
    assert not blocked
    assert [r.code for r in results] == [Code.BAD_ARGUMENT]
    assert storage.write("scratch", "pipe", b"x").code is not Code.OK  # no reader: refused too
    assert (recorder.drain().calls[0].detail) == "a folder"


def test_an_object_read_is_exactly_its_bytes_at_every_size(buckets, recorder, make):
    storage = make(buckets, recorder)
    for size in (0, 1, 4095, 4096, 65537):
        (buckets[1] / "f.bin").write_bytes(bytes(range(256)) * (size // 256) + b"z" * (size % 256))
        data = (buckets[1] / "f.bin").read_bytes()
        assert storage.read("scratch", "f.bin", size).data == data
        assert storage.read("scratch", "f.bin", size + 100).data == data
        if size:
            assert storage.read("scratch", "f.bin", size - 1).code is Code.TOO_LARGE


ROUNDS = 1000  # bounded; an unguarded descriptor showed in 3 runs of 3 (at 200: 1 of 3)


def test_closing_while_other_threads_read_never_serves_another_file(buckets, recorder, make):
    storage = make(buckets, recorder)
    other = buckets[2]
    seen: list[bytes] = []

    def reads():
        seen.extend(storage.read("docs", "readme.txt", 100).data for _ in range(ROUNDS))

    readers = [threading.Thread(target=reads) for _ in range(3)]
    for reader in readers:
        reader.start()
    for _ in range(ROUNDS):
        storage.close()
        # Descriptors freed by close() are reused at once: a read still holding a closed
        # folder's number would open `readme.txt` in this folder instead.
        fd = os.open(other, os.O_RDONLY | os.O_DIRECTORY)
        (other / "readme.txt").write_bytes(b"WRONG")
        os.close(fd)
    for reader in readers:
        reader.join()
    assert seen == [b"hello docs"] * 3 * ROUNDS
