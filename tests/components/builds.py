"""The example components, built once per test session.

`sandbench build` runs componentize-py (seconds per module) and the first load compiles the
18 MB component (seconds more, on about one core), so every test shares one copy of each
example, built and then compiled two at a time into a session folder, with one build cache
and one compile cache (the `cache_dir` of the session's WASM backend): the tests' loads are
cache hits.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sandbench.components import BuildResult, build
from sandbench.manifests import load
from sandbench.sandbox import Grants, SandboxBackend, SandboxLimits

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent.parent / "examples" / "modules"
# name -> source folder; the hostile ones are every examples/modules/hostile/py-*.
SOURCES = {
    "pricing-py": EXAMPLES / "pricing-py",
    "probe": HERE / "probe",
    **{p.name: p for p in sorted((EXAMPLES / "hostile").glob("py-*")) if p.is_dir()},
}
HOSTILE = sorted(name for name in SOURCES if name.startswith("py-"))
PARALLEL_BUILDS = 2  # the CI machine's cores; componentize-py is single-threaded
# Builds are keyed by their sources (sandbench.components.build), so one build cache serves
# every pytest session of a checkout (the tests, then the benchmarks) and stays out of the
# user's own cache. Compiled artifacts stay per session (tests count cache hits).
BUILD_CACHE = HERE.parent.parent / ".sandbench-test-cache"


class Components:
    """Built copies of the example components: `components["pricing-py"]` is its folder."""

    def __init__(self, root: Path, cache_dir: Path, backend: SandboxBackend) -> None:
        self.root = root
        self.cache_dir = cache_dir
        self._backend = backend
        self.results: dict[str, BuildResult] = {}
        with ThreadPoolExecutor(PARALLEL_BUILDS, thread_name_prefix="build") as pool:
            futures = {name: pool.submit(self._build, name) for name in SOURCES}
        self.results = {name: future.result() for name, future in futures.items()}

    def _build(self, name: str) -> BuildResult:
        folder = self.root / name
        shutil.copytree(
            SOURCES[name], folder, ignore=shutil.ignore_patterns("module.wasm", "__pycache__")
        )
        result = build(folder, cache_dir=BUILD_CACHE)
        loaded = self._backend.load(load(folder), SandboxLimits(), Grants())  # compiles
        assert loaded.instance is not None, loaded.violation
        loaded.instance.close()
        return result

    def __getitem__(self, name: str) -> Path:
        return self.root / name
