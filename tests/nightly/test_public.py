"""The nightly package's public names and its one-line docstring."""

from __future__ import annotations

import sandbench.nightly as nightly


def test_all_lists_the_public_names():
    public = {
        n
        for n, v in vars(nightly).items()
        if not n.startswith("_") and getattr(v, "__module__", "").startswith("sandbench.nightly")
    }
    assert set(nightly.__all__) >= public
    assert all(hasattr(nightly, n) for n in nightly.__all__)
    assert len(nightly.__doc__.strip().splitlines()) == 1
