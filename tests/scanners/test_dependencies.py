"""Reading dependency declarations: what is followed, what is refused, what markers keep."""

from __future__ import annotations

import os

import pytest
from packaging.markers import Marker

from sandbench.scanners._support.declarations import applies
from sandbench.scanners._support.dependencies import MAX_NESTED, declared_dependencies


def _reasons(root) -> list[str]:
    return [f"{u.where}: {u.reason}" for u in declared_dependencies(root).unreadable]


def test_a_linked_nested_file_is_refused_even_inside_the_module(tmp_path):
    (tmp_path / "real.txt").write_text("django==2.2.0\n")
    os.symlink("real.txt", tmp_path / "link.txt")
    (tmp_path / "requirements.txt").write_text("-r link.txt\n")
    assert _reasons(tmp_path) == [
        "requirements.txt:1: link.txt is not a regular file of the module"
    ]


def test_a_nested_file_missing_is_unreadable(tmp_path):
    (tmp_path / "requirements.txt").write_text("-c nowhere.txt\n")
    assert _reasons(tmp_path) == [
        "requirements.txt:1: nowhere.txt is not a regular file of the module"
    ]


def test_a_chain_deeper_than_the_bound_is_unreadable(tmp_path):
    (tmp_path / "requirements.txt").write_text("-r n0.txt\n")
    for i in range(MAX_NESTED + 2):
        (tmp_path / f"n{i}.txt").write_text(f"-r n{i + 1}.txt\nrequests==2.{i}.0\n")
    (tmp_path / f"n{MAX_NESTED + 2}.txt").write_text("urllib3==1.0\n")
    reasons = _reasons(tmp_path)
    assert len(reasons) == 1
    assert f"more than {MAX_NESTED} nested files" in reasons[0]


def test_each_file_is_read_once_however_many_name_it(tmp_path):
    (tmp_path / "common.txt").write_text("requests==2.19.0\n")
    (tmp_path / "requirements.txt").write_text("-r common.txt\n-r common.txt\n")
    (tmp_path / "requirements-dev.txt").write_text("-r common.txt\n")
    declared = declared_dependencies(tmp_path)
    assert [(d.name, d.path) for d in declared.deps] == [("requests", "common.txt")]
    assert declared.unreadable == []


def test_hashes_are_kept_with_the_pin(tmp_path):
    (tmp_path / "requirements.txt").write_text(
        "requests==2.19.0 --hash=sha256:aa --hash=sha256:bb\n"
    )
    [dep] = declared_dependencies(tmp_path).deps
    assert (dep.version, dep.hashes) == ("2.19.0", ("sha256:aa", "sha256:bb"))


@pytest.mark.parametrize(
    ("marker", "kept"),
    [
        ('sys_platform == "linux"', True),
        ('sys_platform == "wasi"', True),
        ('platform_machine == "aarch64"', True),
        ('python_version >= "3.14"', True),
        ('sys_platform == "win32"', False),
        ('sys_platform == "darwin"', False),
        ('python_version < "3.9"', False),
        ('extra == "test"', False),
        ('implementation_name == "pypy"', False),
    ],
)
def test_markers_hold_in_at_least_one_target(marker, kept):
    assert applies(Marker(marker)) is kept


def test_formats_with_their_lock_are_read_from_the_lock(tmp_path):
    (tmp_path / "Pipfile").write_text('[packages]\ndjango = "*"\n')
    (tmp_path / "Pipfile.lock").write_text('{"default": {"django": {"version": "==2.2.0"}}}')
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pyproject.toml").write_text(
        '[tool.poetry.dependencies]\npython = "^3.11"\nrequests = "2.19.0"\n'
    )
    (tmp_path / "p" / "poetry.lock").write_text(
        '[[package]]\nname = "requests"\nversion = "2.19.0"\n'
    )
    declared = declared_dependencies(tmp_path)
    assert declared.unreadable == []
    assert sorted((d.name, d.version) for d in declared.deps) == [
        ("django", "2.2.0"),
        ("requests", "2.19.0"),
    ]


def test_a_pin_no_version_satisfies_and_a_non_pep440_pin_are_unreadable(tmp_path):
    (tmp_path / "requirements.txt").write_text("a==1.0,!=1.0\nb===not-a-version\n")
    assert _reasons(tmp_path) == [
        "requirements.txt:1: no version satisfies this specifier",
        "requirements.txt:2: 'not-a-version' is not a PEP 440 version: it cannot be audited",
    ]


def test_local_paths_the_module_itself_a_folder_in_it_and_one_out_of_it(tmp_path):
    (tmp_path / "vendor" / "lib").mkdir(parents=True)
    (tmp_path / "requirements.txt").write_text(
        "-e .\n./vendor/lib\n../../elsewhere\nfile:../outside#egg=x\n"
    )
    declared = declared_dependencies(tmp_path)
    assert [(d.spec, d.direct) for d in declared.deps] == [("./vendor/lib", True)]
    assert _reasons(tmp_path) == [
        "requirements.txt:3: ../../elsewhere leads out of the module folder",
        "requirements.txt:4: ../outside leads out of the module folder",
    ]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pyproject.toml", "[project]\nname = 'x'\nversion = '1'\n[tool.x]\na = " + "[" * 50_000),
        ("Pipfile.lock", '{"default": ' + "[" * 50_000 + "]" * 50_000 + "}"),
        ("pylock.toml", "lock-version = '1.0'\nx = " + "[" * 50_000 + "]" * 50_000 + "\n"),
    ],
)
def test_declarations_nested_too_deeply_are_unreadable_naming_the_file(tmp_path, name, text):
    # tomllib and json recurse per level: before, the RecursionError stopped the whole
    # dependency and license scans, with only "RecursionError" as the reason.
    (tmp_path / name).write_text(text)
    (tmp_path / "requirements.txt").write_text("requests==2.19.0\n")
    declared = declared_dependencies(tmp_path)
    assert [f"{u.where}: {u.reason}" for u in declared.unreadable] == [
        f"{name}: cannot parse: nested too deeply"
    ]
    assert [(d.name, d.version) for d in declared.deps] == [("requests", "2.19.0")]
