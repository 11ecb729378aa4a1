"""Every limit is declared once (`manifests.LIMITS`); the models made from it agree with it."""

from __future__ import annotations

import pytest

from sandbench.manifests import LIMITS, ManifestLimits, limit
from sandbench.reports import Policy, PolicyLimits
from sandbench.reports.model import LimitsApplied
from sandbench.sandbox import SandboxLimits, ViolationKind
from sandbench.scanners import Ceilings


def test_sandbox_limits_has_one_field_per_row_with_its_default():
    assert set(SandboxLimits.model_fields) == {s.field for s in LIMITS} | {"network"}
    assert SandboxLimits().numbers() == {s.field: s.default_value for s in LIMITS}


def test_each_row_names_a_violation_kind():
    kinds = {kind.value for kind in ViolationKind}
    assert [s.violation for s in LIMITS if s.violation not in kinds] == []


@pytest.mark.parametrize("spec", LIMITS, ids=[s.name for s in LIMITS])
def test_text_reads_back_exactly(spec):
    for value in (spec.default_value, spec.ceiling_value, 1, 1500):
        assert spec.parse(spec.text(value)) == value
    assert spec.default_value <= spec.ceiling_value


def test_the_models_made_from_the_table():
    declared = [s.name for s in LIMITS if s.declared]
    assert list(ManifestLimits.model_fields) == [*declared, "network"]
    assert list(PolicyLimits.model_fields) == [s.name for s in LIMITS]
    assert list(Ceilings.model_fields) == [*(s.field for s in LIMITS), "network_per_minute"]
    assert list(LimitsApplied.model_fields) == [*(s.field for s in LIMITS), "network", "clamped"]
    policy = Policy()
    assert policy.defaults.sandbox() == SandboxLimits()
    assert Ceilings().model_dump(exclude={"network_per_minute"}) == (
        policy.ceilings.sandbox().numbers()
    )


def test_limit_refuses_an_unknown_name():
    assert limit("cpu").field == "cpu_millicores"
    with pytest.raises(KeyError):
        limit("disk")
