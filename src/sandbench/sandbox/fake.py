"""A scripted backend for tests of everything above the sandbox (runtime, pipeline, CLI)."""

from __future__ import annotations

from collections.abc import Sequence

from sandbench.errors import SandboxError
from sandbench.manifests import ModulePackage

from .interface import Closing, Grants, LoadResult, Outcome, Request, SandboxLimits, Violation

__all__ = ["FakeBackend", "FakeInstance"]


class FakeInstance(Closing):
    """Answers with the scripted outcomes in turn, repeating the last one; records requests."""

    def __init__(self, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            raise ValueError("script at least one outcome")
        self.outcomes = list(outcomes)
        self.requests: list[Request] = []
        self.closed = False

    def invoke(self, request: Request) -> Outcome:
        """See `Instance.invoke`."""
        if self.closed:
            raise SandboxError("instance is closed")
        self.requests.append(request)
        index = min(len(self.requests) - 1, len(self.outcomes) - 1)
        return self.outcomes[index]

    def close(self) -> None:
        """See `Instance.close`."""
        self.closed = True


class FakeBackend:
    """`SandboxBackend` that loads nothing and answers from a script.

    `load_violation` makes every load fail with that violation; otherwise each load returns a
    new `FakeInstance` over `outcomes`. Loads and instances are kept for assertions.
    """

    name = "fake"

    def __init__(
        self,
        outcomes: Sequence[Outcome] = (),
        *,
        load_violation: Violation | None = None,
        load_ms: float = 1.0,
    ) -> None:
        self.outcomes = list(outcomes)
        self.load_violation = load_violation
        self.load_ms = load_ms
        self.loads: list[tuple[ModulePackage, SandboxLimits, Grants]] = []
        self.instances: list[FakeInstance] = []
        self.closed = False

    def load(
        self,
        package: ModulePackage,
        limits: SandboxLimits,
        grants: Grants,
        *,
        fresh: bool = False,
    ) -> LoadResult:
        """See `SandboxBackend.load`."""
        self.loads.append((package, limits, grants))
        if self.load_violation is not None:
            return LoadResult(violation=self.load_violation, load_ms=self.load_ms)
        instance = FakeInstance(self.outcomes)
        self.instances.append(instance)
        hit = not fresh and len(self.loads) > 1
        return LoadResult(instance=instance, load_ms=self.load_ms, cache_hit=hit)

    def describe(self) -> str:
        """See `SandboxBackend.describe`."""
        return "fake 0"

    def close(self) -> None:
        """See `SandboxBackend.close`."""
        self.closed = True
