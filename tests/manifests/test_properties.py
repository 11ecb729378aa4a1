"""Property-based tests: whatever the input, parsing answers with a Manifest or one clean error."""

from __future__ import annotations

import copy
import json
import math
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbench.errors import ManifestError
from sandbench.manifests import (
    Manifest,
    ModulePackage,
    Rate,
    load,
    parse_cpu,
    parse_duration,
    parse_manifest,
    parse_rate,
    parse_size,
)
from tests.manifests.samples import EXAMPLE, MINIMAL

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Words a manifest is made of, so random keys and strings hit real fields and near misses.
WORDS = [
    "name", "version", "license", "description", "runtime", "kind", "entry", "abi",
    "security", "permissions", "csp", "limits", "memory", "cpu", "storage", "network",
    "timeout", "health", "request", "method", "path", "headers", "body", "expect", "status",
    "contains", "signature", "author", "email", "url", "verified", "$schema", "wasm",
    "command", "reactor", "module.wasm", "../x.wasm", "256MB", "250m", "100req/min", "2s",
    "none", "database:read:x", "api:external:a.com", "api:external:a.com:99999", "GET", "/",
    "2.1.0", "1.0", "SHA256:" + "a" * 64, "script-src", "X-Header", "bad name", "",
    "a\nb", "\u2028", "\x00", "\ud800", "\x1b[2J", "é", "NaN",
]  # fmt: skip

# All of Unicode, lone surrogates (category Cs) and every control character included.
ANY_CHAR = st.characters(codec=None, exclude_categories=())
any_text = st.text(alphabet=ANY_CHAR, max_size=30)
keys = st.sampled_from(WORDS) | st.text(alphabet=ANY_CHAR, max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.sampled_from(WORDS)
    | any_text
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location inside a JSON value, the root excluded."""
    found = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


@st.composite
def near_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """The platform's example (or the minimal manifest) with a few random edits."""
    result: dict[str, Any] = copy.deepcopy(draw(st.sampled_from([EXAMPLE, MINIMAL])))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(result)
        if not paths:
            break
        *parents, last = draw(st.sampled_from(paths))
        node: Any = result
        for part in parents:
            node = node[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            node[last] = draw(json_values)
        elif action == "delete":
            del node[last]
        elif isinstance(node, dict):
            node[draw(keys)] = draw(json_values)
        else:
            node.append(draw(json_values))
    return result


def _check(data: str | bytes) -> None:
    """parse_manifest returns a Manifest or raises a ManifestError of clean lines."""
    try:
        result: Manifest | ManifestError = parse_manifest(data)
    except ManifestError as error:
        result = error
    if isinstance(result, Manifest):
        json.dumps(result.model_dump(mode="json", by_alias=True))
        return
    assert result.problems, "a ManifestError must hold at least one problem"
    for line in result.problems:
        assert isinstance(line, str)
        assert line
        assert "\n" not in line
        assert line.splitlines() == [line], f"not a single line: {line!r}"
        assert line.isprintable(), f"unprintable characters in {line!r}"
    assert str(result).count("\n") == len(result.problems) - 1


@FAST
@given(json_values)
def test_any_json_value(value):
    _check(json.dumps(value))


@FAST
@given(st.dictionaries(keys, json_values, max_size=8))
def test_any_json_object(value):
    _check(json.dumps(value))


@FAST
@given(near_manifests())
def test_near_valid_manifests(value):
    _check(json.dumps(value))


@FAST
@given(near_manifests())
def test_near_valid_manifests_with_escapes(value):
    _check(json.dumps(value, ensure_ascii=True, indent=1).encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes(data):
    _check(data)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mangled_example_bytes(data):
    blob = bytearray(json.dumps(EXAMPLE).encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=5))):
        at = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
        byte = data.draw(st.integers(min_value=0, max_value=255))
        if data.draw(st.booleans()):
            blob[at] = byte
        else:
            blob.insert(at, byte)
    _check(bytes(blob))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ANY_CHAR, max_size=300))
def test_any_text(text):
    _check(text)


# -- every string field, any Unicode, through load() on disk ----------------------------

# Every string field the manifest has, in a wasm component and a container manifest.
FULL_WASM: dict[str, Any] = {
    **EXAMPLE,
    "$schema": "https://sandbench.dev/schemas/module-manifest-1.json",
    "description": "Sales",
    "runtime": {"kind": "wasm", "entry": "module.wasm", "abi": "component", "source": "app.py"},
    "health": {
        "request": {"method": "POST", "path": "/x", "headers": {"X-A": "b"}, "body": "{}"},
        "expect": {"status": 200, "contains": "ok"},
    },
    "author": {"name": "N", "email": "a@b.c", "url": "https://b.c", "verified": False},
}
FULL_CONTAINER: dict[str, Any] = {
    **FULL_WASM,
    "runtime": {
        "kind": "container",
        "build": "image",
        "port": 8080,
        "command": ["python3", "s.py"],
    },
}


def _string_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], bool]]:
    """(location, is_key) of every string value and every key of a free-form object."""
    found: list[tuple[tuple[Any, ...], bool]] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in items:
        if isinstance(node, dict) and prefix[-1:] in (("headers",), ("csp",)):
            found.append(((*prefix, key), True))
        if isinstance(child, str):
            found.append(((*prefix, key), False))
        found.extend(_string_paths(child, (*prefix, key)))
    return found


@st.composite
def any_unicode_fields(draw: st.DrawFn) -> dict[str, Any]:
    """A full manifest with one to three string fields (or keys) replaced or edited with
    arbitrary Unicode: lone surrogates, NUL, escapes, 64 KiB names."""
    result: dict[str, Any] = copy.deepcopy(draw(st.sampled_from([FULL_WASM, FULL_CONTAINER])))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        (*parents, last), is_key = draw(st.sampled_from(_string_paths(result)))
        node: Any = result
        for part in parents:
            node = node[part]
        old: str = last if is_key else node[last]
        new = draw(
            any_text
            | st.builds(_insert, st.just(old), any_text, st.integers(0, len(old)))
            | st.sampled_from(["\ud800", "a\x00.wasm", "a" * 70_000 + ".wasm", "\x1b[2J", "x\n"])
        )
        if is_key:
            node[new] = node.pop(last)
        else:
            node[last] = new
    return result


def _insert(old: str, text: str, at: int) -> str:
    return old[:at] + text + old[at:]


def _load_check(raw: dict[str, Any]) -> None:
    """load() gives a package whose every string can be encoded, or one clean error."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in ("module.wasm", "app.py", "image/Dockerfile"):
            (root / name).parent.mkdir(exist_ok=True)
            (root / name).write_bytes(b"\0asm\1\0\0\0" if name.endswith(".wasm") else b"x")
        (root / "module.json").write_text(json.dumps(raw), encoding="ascii")
        try:
            result: ModulePackage | ManifestError = load(root)
        except ManifestError as error:
            result = error
        if isinstance(result, ModulePackage):
            result.model_dump_json().encode()
            return
        for line in result.problems:
            assert line.isprintable(), line
            assert len(line) <= 400, line


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_unicode_fields())
def test_any_unicode_in_any_field_loads_or_is_one_clean_line(raw):
    _load_check(raw)


# -- format -> parse round trips -----------------------------------------------------------

SIZE_UNITS = {
    "": 1, "B": 1, "kB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
    "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
}  # fmt: skip
MAX_BYTES = 1024**5


def _decimal(units: int, places: int) -> str:
    """`units / 10**places` written as an exact decimal."""
    whole, fraction = divmod(units, 10**places)
    return f"{whole}.{fraction:0{places}d}" if places else str(whole)


@FAST
@given(
    st.integers(min_value=1, max_value=10**7),
    st.integers(min_value=0, max_value=3),
    st.sampled_from(sorted(SIZE_UNITS)),
    st.sampled_from(["", " "]),
)
def test_size_round_trip(units, places, unit, space):
    text = _decimal(units, places) + (space if unit else "") + unit
    expected = math.ceil(Fraction(units, 10**places) * SIZE_UNITS[unit])
    if expected <= MAX_BYTES:
        assert parse_size(text) == expected
        assert parse_size(text.lower()) == expected
        assert parse_size(str(expected)) == expected
    else:
        with pytest.raises(ValueError, match="at most 1PiB"):
            parse_size(text)


@FAST
@given(st.integers(min_value=1, max_value=1024 * 1000))
def test_cpu_round_trip(millicores):
    assert parse_cpu(f"{millicores}m") == millicores
    assert parse_cpu(_decimal(millicores, 3)) == millicores
    if millicores % 1000 == 0:
        assert parse_cpu(millicores // 1000) == millicores


@FAST
@given(st.integers(min_value=1, max_value=24 * 3600 * 1000))
def test_duration_round_trip(ms):
    assert parse_duration(f"{ms}ms") == ms
    assert parse_duration(_decimal(ms, 3) + "s") == ms
    if ms % 60_000 == 0:
        assert parse_duration(f"{ms // 60_000}m") == ms


@FAST
@given(st.integers(min_value=1, max_value=10**9), st.sampled_from([1, 60, 3600]))
def test_rate_round_trip(requests, period_s):
    rate = Rate(requests=requests, period_s=period_s)
    assert parse_rate(str(rate)) == rate
