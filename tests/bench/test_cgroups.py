"""cgroup counters: the real hierarchy of this machine, and both file formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbench.bench.cgroups import CgroupCounters, cgroup_dirs
from sandbench.errors import BenchError

ROOT = Path("/sys/fs/cgroup")


def test_reads_the_root_cgroup_of_this_machine():
    memory_dir, cpu_dir = cgroup_dirs(ROOT, "/")
    counters = CgroupCounters(memory_dir, cpu_dir)
    first = counters.read()
    sum(i * i for i in range(200_000))
    last = counters.read()
    assert first.memory_bytes > 0
    assert last.cpu_ns > first.cpu_ns
    assert CgroupCounters.cpu_percent(first, last) > 0


def test_v2_files(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    group = tmp_path / "docker" / "abc"
    group.mkdir(parents=True)
    (group / "memory.current").write_text("4096\n")
    (group / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    reading = CgroupCounters(*cgroup_dirs(tmp_path, "/docker/abc")).read()
    assert (reading.memory_bytes, reading.cpu_ns) == (4096, 1_500_000)


def test_v1_layout(tmp_path):
    memory_dir, cpu_dir = cgroup_dirs(tmp_path, "docker/abc")
    assert (memory_dir, cpu_dir) == (
        tmp_path / "memory/docker/abc",
        tmp_path / "cpuacct/docker/abc",
    )
    memory_dir.mkdir(parents=True)
    cpu_dir.mkdir(parents=True)
    (memory_dir / "memory.usage_in_bytes").write_text("8192\n")
    (cpu_dir / "cpuacct.usage").write_text("123456789\n")
    reading = CgroupCounters(memory_dir, cpu_dir).read()
    assert (reading.memory_bytes, reading.cpu_ns) == (8192, 123456789)


def test_a_missing_cgroup_names_the_file(tmp_path):
    with pytest.raises(BenchError, match=r"memory.usage_in_bytes: cannot read the cgroup counter"):
        CgroupCounters(tmp_path / "gone", tmp_path / "gone").read()


def test_v2_without_usage_is_an_error(tmp_path):
    (tmp_path / "memory.current").write_text("1\n")
    (tmp_path / "cpu.stat").write_text("nr_periods 0\n")
    with pytest.raises(BenchError, match="no usage_usec"):
        CgroupCounters(tmp_path, tmp_path).read()
