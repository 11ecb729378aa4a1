"""Unit strings: sizes, CPU, request rates and durations."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbench.manifests import (
    Rate,
    format_bytes,
    format_duration,
    format_size,
    parse_cpu,
    parse_duration,
    parse_rate,
    parse_size,
)

KiB, MiB, GiB, TiB, PiB = (1024**n for n in range(1, 6))

SIZE = "expected a size such as 256MB, 512MiB or 1GB"
SIZE_RANGE = SIZE + ", above 0 and at most 1PiB"
CPU = "expected a CPU quantity such as 250m, 0.5 or 2 (cores)"
CPU_RANGE = CPU + ", above 0 and at most 1024 cores"
RATE = "expected a rate such as 100req/min or 5req/s, or none"
RATE_RANGE = RATE + ", with a count from 1 to 1,000,000,000"
DURATION = "expected a duration such as 2s or 500ms"
DURATION_RANGE = DURATION + ", above 0 and at most 24h"


def _message(parser: Callable[[object], object], value: object) -> str:
    with pytest.raises(ValueError, match=r"^expected ") as info:
        parser(value)
    return str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("256MB", 256_000_000),
        ("512MiB", 512 * MiB),
        ("1GB", 1_000_000_000),
        ("1Gi", GiB),
        ("64Ki", 64 * KiB),
        ("1048576", 1_048_576),
        (1048576, 1_048_576),
        (1, 1),
        ("10 kB", 10_000),
        ("10kB", 10_000),
        ("100B", 100),
        ("100b", 100),
        ("1TB", 10**12),
        ("1TiB", TiB),
        ("1Ti", TiB),
        ("2Mi", 2 * MiB),
        ("1KiB", KiB),
        ("0.5kB", 500),
        ("1.5KiB", 1536),
        ("0.0001kB", 1),  # a fraction of a byte rounds up, never to 0
        ("4.03MB", 4_030_000),  # exact: 4.03 * 10**6 in floats is 4030000.0000000005
        ("8.14MB", 8_140_000),
        (1.5, 2),
        ("  256MB  ", 256_000_000),
        ("1024TiB", PiB),
        (PiB, PiB),
    ],
)
def test_parse_size_accepts(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        ("256mb", 1000**2),
        ("256Mb", 1000**2),
        ("256mB", 1000**2),
        ("256MB", 1000**2),
        ("256mib", MiB),
        ("256MIB", MiB),
        ("256mI", MiB),
        ("256gi", GiB),
        ("256KB", 1000),
        ("256kb", 1000),
    ],
)
def test_parse_size_units_are_case_insensitive(value, unit):
    assert parse_size(value) == 256 * unit


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, SIZE_RANGE),
        ("0", SIZE_RANGE),
        ("0MB", SIZE_RANGE),
        ("0.0GB", SIZE_RANGE),
        (PiB + 1, SIZE_RANGE),
        ("1025TiB", SIZE_RANGE),
        ("1126TB", SIZE_RANGE),
        (-1, SIZE),
        ("-1MB", SIZE),
        ("1.5.2MB", SIZE),
        ("MB", SIZE),
        ("", SIZE),
        ("256XB", SIZE),
        ("256M", SIZE),
        ("256k", SIZE),
        ("1PB", SIZE),
        ("256 M B", SIZE),
        ("1e3", SIZE),
        (".5MB", SIZE),
        ("5.MB", SIZE),
        ("\u0663MB", SIZE),  # ARABIC-INDIC DIGIT THREE: only ASCII digits count
        ("1" + "0" * 400 + "MB", SIZE),
        (10**400, SIZE),
        (True, SIZE),
        (False, SIZE),
        (None, SIZE),
        (float("nan"), SIZE),
        (float("inf"), SIZE),
        (float("-inf"), SIZE),
        (1e300, SIZE),
        ([256], SIZE),
        ({"MB": 256}, SIZE),
    ],
)
def test_parse_size_rejects(value, message):
    assert _message(parse_size, value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("250m", 250),
        ("0.5", 500),
        (2, 2000),
        ("2", 2000),
        ("1.5", 1500),
        (0.25, 250),
        ("1m", 1),
        ("0.1", 100),
        ("2.007", 2007),  # exact: 2.007 * 1000 in floats is 2007.0000000000002
        ("0.0001", 1),  # rounds up, never to 0
        ("0.5m", 1),
        ("1000m", 1000),
        ("1024", 1_024_000),
        ("1024000m", 1_024_000),
        (" 250m ", 250),
    ],
)
def test_parse_cpu_accepts(value, expected):
    assert parse_cpu(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("250M", CPU),
        ("-1", CPU),
        ("m", CPU),
        ("250 m", CPU),
        ("1.5.2", CPU),
        ("", CPU),
        ("1 core", CPU),
        ("1e3m", CPU),
        (True, CPU),
        (None, CPU),
        (float("nan"), CPU),
        ("0", CPU_RANGE),
        (0, CPU_RANGE),
        ("0m", CPU_RANGE),
        ("1025", CPU_RANGE),
        ("1024001m", CPU_RANGE),
    ],
)
def test_parse_cpu_rejects(value, message):
    assert _message(parse_cpu, value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100req/min", Rate(requests=100, period_s=60)),
        ("5req/s", Rate(requests=5, period_s=1)),
        ("3600req/h", Rate(requests=3600, period_s=3600)),
        ("1req/sec", Rate(requests=1, period_s=1)),
        ("2req/second", Rate(requests=2, period_s=1)),
        ("3req/minute", Rate(requests=3, period_s=60)),
        ("4req/hour", Rate(requests=4, period_s=3600)),
        ("10 req / min", Rate(requests=10, period_s=60)),
        ("1000000000req/s", Rate(requests=10**9, period_s=1)),
        ("none", None),
        ("NONE", None),
        ("None", None),
        (" none ", None),
    ],
)
def test_parse_rate_accepts(value, expected):
    assert parse_rate(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5/s", RATE),
        ("100 requests/min", RATE),
        ("5req/day", RATE),
        ("1.5req/s", RATE),
        ("-5req/s", RATE),
        ("req/s", RATE),
        ("", RATE),
        ("null", RATE),
        (5, RATE),
        (None, RATE),
        (True, RATE),
        ("0req/s", RATE_RANGE),
        ("1000000001req/s", RATE_RANGE),
    ],
)
def test_parse_rate_rejects(value, message):
    assert _message(parse_rate, value) == message


@pytest.mark.parametrize(
    ("rate", "text", "per_second"),
    [
        (Rate(requests=100, period_s=60), "100req/min", 100 / 60),
        (Rate(requests=5, period_s=1), "5req/s", 5.0),
        (Rate(requests=7200, period_s=3600), "7200req/h", 2.0),
    ],
)
def test_rate_text_and_per_second(rate, text, per_second):
    assert str(rate) == text
    assert rate.per_second == pytest.approx(per_second)
    assert parse_rate(str(rate)) == rate


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2s", 2000),
        ("500ms", 500),
        ("1.5s", 1500),
        ("1m", 60_000),
        ("2.007s", 2007),  # exact, not 2008
        ("0.5ms", 1),  # rounds up, never to 0
        ("10 s", 10_000),
        (" 2s ", 2000),
        ("1440m", 86_400_000),
        ("86400000ms", 86_400_000),
        ("86400s", 86_400_000),
    ],
)
def test_parse_duration_accepts(value, expected):
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2 hours", DURATION),
        ("2h", DURATION),
        ("2", DURATION),
        (2, DURATION),
        ("-1s", DURATION),
        ("1.5.2s", DURATION),
        ("s", DURATION),
        ("", DURATION),
        (None, DURATION),
        (True, DURATION),
        (float("inf"), DURATION),
        ("0s", DURATION_RANGE),
        ("0ms", DURATION_RANGE),
        ("1441m", DURATION_RANGE),
        ("86400001ms", DURATION_RANGE),
        ("86400.001s", DURATION_RANGE),
    ],
)
def test_parse_duration_rejects(value, message):
    assert _message(parse_duration, value) == message


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (256 * MiB, "256.0 MiB"),
        (256_000_000, "244.1 MiB"),
        (3 * GiB, "3.0 GiB"),
        (5 * TiB, "5120.0 GiB"),
    ],
)
def test_format_bytes(n, text):
    assert format_bytes(n) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (64 * MiB, "64MiB"),
        (16_000_000, "16MB"),
        (10_000_000, "10MB"),
        (3 * GiB, "3GiB"),
        (1536 * KiB, "1536KiB"),
        (1234, "1234B"),
        (1000, "1kB"),
    ],
)
def test_format_size_writes_the_manifest_unit_that_reads_back_exactly(n, text):
    assert format_size(n) == text
    assert parse_size(format_size(n)) == n


@pytest.mark.parametrize(("ms", "text"), [(2000, "2s"), (1500, "1500ms"), (100, "100ms")])
def test_format_duration_reads_back_exactly(ms, text):
    assert format_duration(ms) == text
    assert parse_duration(text) == ms
