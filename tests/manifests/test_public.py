"""The package's public surface is exactly its `__all__`."""

from __future__ import annotations

import types

import sandbench.manifests as manifests


def test_all_lists_every_public_name():
    public = {
        name
        for name, value in vars(manifests).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and (
            getattr(value, "__module__", "").startswith("sandbench.")
            or isinstance(value, str | int | tuple)
        )
    }
    assert sorted(manifests.__all__) == sorted(public)
    assert len(set(manifests.__all__)) == len(manifests.__all__)
