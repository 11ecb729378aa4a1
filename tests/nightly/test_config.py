"""CONFIG.toml: modules from folders, globs and index files; one line per problem."""

from __future__ import annotations

import pytest

from sandbench.errors import ConfigError
from sandbench.nightly import load_config


def test_folders_globs_and_index_files_resolve_in_order_without_duplicates(
    write_config, modules, tmp_path
):
    (tmp_path / "index.txt").write_text("# nightly list\nmodules/spin\n\nmodules/hello  # again\n")
    config = load_config(write_config(["modules/hello*", "index.txt", "modules/hello"]))
    assert [m.id for m in config.modules] == [
        "modules/hello",
        "modules/hello-reactor",
        "modules/spin",
    ]
    assert config.modules[2].path == modules / "spin"
    assert config.store == str(tmp_path / "history.db")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[modules]\npaths = ["nope"]\n', "modules.paths[0]: 'nope' does not exist"),
        ('[modules]\npaths = ["x*"]\n', "modules.paths[0]: 'x*' matches nothing"),
        ("[modules]\npaths = []\n", "modules.paths: List should have at least 1 item"),
        ("[modules\n", "not valid TOML"),
        (
            '[modules]\npaths = ["modules/hello"]\n[matrix]\nhost-api = ["2"]\n',
            "matrix.host-api: unknown axis",
        ),
        (
            '[modules]\npaths = ["modules/hello"]\n[matrix]\nprofile = ["big"]\n',
            "'big' has no [profiles.big] table",
        ),
        (
            '[modules]\npaths = ["modules/hello"]\n[profiles.p]\ndefaults = {memory = "9XB"}\n',
            "profiles.p.defaults.memory: expected a size",
        ),
        (
            '[modules]\npaths = ["modules/hello"]\n[nightly]\ncals = 3\n',
            "nightly.cals: Extra inputs",
        ),
        (
            '[modules]\npaths = ["modules/hello"]\n[baselines]\n"modules/x" = "modules/hello"\n',
            "baselines.modules/x: not a module of this run",
        ),
        (
            '[modules]\npaths = ["modules/hello"]\n[baselines]\n"modules/hello" = "gone"\n',
            "baselines.modules/hello: 'gone' does not exist",
        ),
        (
            '[modules]\npaths = ["modules/hello"]\n[baseline_axes.profile]\nsmall = "default"\n',
            "baseline_axes.profile: not an axis of [matrix]",
        ),
        (
            '[modules]\npaths = ["modules/hello"]\n[matrix]\nbackend = ["wasm"]\n'
            '[baseline_axes.backend]\nwasm = "v1"\n',
            "baseline_axes.backend.wasm: 'v1' is not a value of matrix.backend",
        ),
        (
            '[modules]\npaths = ["modules/hello"]\n[matrix]\nbackend = ["wasm"]\n'
            '[baseline_axes.backend]\nwasm = "wasm"\n',
            "baseline_axes.backend.wasm: a cell cannot be its own baseline",
        ),
        (
            '[modules]\npaths = ["modules/hello"]\n[nightly]\nprecision = 0\n',
            "nightly.precision: Input should be greater than 0",
        ),
    ],
)
def test_a_bad_config_is_one_line_naming_the_field(tmp_path, modules, body, expected):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert any(expected in line for line in error.value.problems), error.value.problems
    assert all("\n" not in line for line in error.value.problems)


def test_a_config_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[modules]\npaths = ["caf\xe9"]\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    [problem] = error.value.problems
    assert problem.startswith("not valid TOML: 'utf-8' codec can't decode")


def test_an_index_line_that_does_not_exist_names_the_index_and_line(
    tmp_path, modules, write_config
):
    (tmp_path / "index.txt").write_text("modules/hello\nmodules/gone\n")
    with pytest.raises(ConfigError) as error:
        load_config(write_config(["index.txt"]))
    assert error.value.path == tmp_path / "index.txt"
    assert error.value.problems == ["line 2: 'modules/gone' does not exist"]
