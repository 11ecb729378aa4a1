"""The one error hierarchy: its drawing, its home, and the one wording of validation problems."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sandbench import errors

SRC = Path(errors.__file__).parent
CLASSES = {
    name: value
    for name in errors.__all__
    if isinstance(value := getattr(errors, name), type) and issubclass(value, Exception)
}
# `│   ├── ManifestError               2  a module.json, ...`: indent, name, exit code
_ROW = re.compile(r"^    (?P<indent>(?:[│ ]   )*(?:[├└]── )?)(?P<name>\w+)\s+(?P<code>\d)  \S")


def _drawn() -> list[tuple[int, str, int]]:
    matches = [_ROW.match(text) for text in (errors.__doc__ or "").splitlines()]
    return [(len(m["indent"]) // 4, m["name"], int(m["code"])) for m in matches if m]


def test_the_docstring_draws_every_class_under_its_parent_with_its_exit_code():
    rows = _drawn()
    assert {name for _, name, _ in rows} == set(CLASSES)
    parents: list[str] = []
    for depth, name, code in rows:
        parents[depth:] = [name]
        cls = CLASSES[name]
        assert cls.exit_code == code, name
        expected = (CLASSES[parents[depth - 1]],) if depth else (Exception,)
        assert cls.__bases__ == expected, name


def test_no_exception_of_ours_derives_from_the_hierarchy_outside_errors_py():
    outside = []
    for path in SRC.rglob("*.py"):
        if path.name == "errors.py" and path.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                if bases & set(CLASSES):
                    outside.append(f"{path.relative_to(SRC)}: {node.name}")
    assert outside == []


def test_only_errors_py_reads_a_validation_errors_problems():
    """Every other module words a pydantic ValidationError through `validation_lines`."""
    readers = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path != Path(errors.__file__)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "errors"
        and not node.args
    ]
    assert readers == []


def test_a_scanner_input_error_is_one_problem_of_an_invalid_input(tmp_path):
    error = errors.ScanInputError(tmp_path / "base.json", "not JSON: Expecting value at line 1")
    assert isinstance(error, errors.InvalidInput)
    assert error.problem == "not JSON: Expecting value at line 1"
    assert error.problems == [error.problem]
    assert str(error) == f"{tmp_path / 'base.json'}: not JSON: Expecting value at line 1"


class _Limit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    memory: str

    @field_validator("memory")
    @classmethod
    def _size(cls, value: str) -> str:
        if not value.endswith("MB"):
            raise ValueError("expected a size such as 256MB")
        return value


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rounds: int = Field(default=1, gt=0)
    limits: list[_Limit] = []


def _problem(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _File.model_validate(data)
    return caught.value


def test_validation_lines_name_the_dotted_field_and_drop_pydantics_value_error_prefix():
    exc = _problem({"rounds": 0, "limits": [{"memory": "1MB"}, {"memory": "lots"}], "x": 1})
    assert errors.validation_lines(exc) == [
        "rounds: Input should be greater than 0",
        "limits.1.memory: expected a size such as 256MB",
        "x: Extra inputs are not permitted",
    ]


def test_validation_lines_below_a_place_in_the_file_and_at_the_top_level():
    exc = _problem({"limits": [{"memory": "lots"}]})
    assert errors.validation_lines(exc, "profiles.small") == [
        "profiles.small.limits.0.memory: expected a size such as 256MB"
    ]
    assert errors.validation_lines(_problem([])) == [
        "(top level): Input should be a valid dictionary or instance of _File"
    ]


def test_validation_lines_let_a_file_format_word_its_own_lines():
    exc = _problem({"rounds": 0, "limits": [{"memory": "lots"}]})
    lines = errors.validation_lines(exc, line=lambda e: f"{e['type']}: {errors.problem_message(e)}")
    assert lines == [
        "greater_than: Input should be greater than 0",
        "value_error: expected a size such as 256MB",
    ]
