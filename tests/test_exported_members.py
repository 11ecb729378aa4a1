"""Each package's `__all__` names exactly its public members (HX tests/test_exported_members.py)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "sandbench",
    "sandbench.manifests",
    "sandbench.sandbox",
    "sandbench.runtime",
    "sandbench.bench",
    "sandbench.scanners",
    "sandbench.reports",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_the_public_names(name):
    module = importlib.import_module(name)
    public = {
        n
        for n, value in vars(module).items()
        if not n.startswith("_")
        and getattr(value, "__module__", name).startswith(name)
        and not isinstance(value, type(importlib))
    }
    assert set(module.__all__) >= public - {"annotations"}
    assert all(hasattr(module, n) for n in module.__all__)


@pytest.mark.parametrize("name", PACKAGES)
def test_each_package_says_what_it_owns_in_one_line(name):
    doc = importlib.import_module(name).__doc__
    assert doc
    assert len(doc.strip().splitlines()) == 1
