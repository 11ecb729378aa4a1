"""The exceptions sandbench raises, all below one root.

Exceptions are for faults of the host, the input or the environment. Anything a *module*
does wrong while it runs (a trap, an exhausted budget, a flood of output) is data: an
`Outcome` with a `Violation`, never an exception.

    SandbenchError                  exit code 2 unless a subclass says otherwise
    ├── InvalidInput                a file the user gave is unusable; one line per problem
    │   ├── ManifestError           a module.json, module tree or module archive
    │   ├── PolicyError             a policy file
    │   ├── TrustError              a signing key, allowed-signers file or revocation list
    │   └── BuildError              a module's source that `sandbench build` cannot build
    ├── SandboxError                the sandbox host itself failed
    │   └── BackendUnavailable      no backend can run here (exit code 3)
    ├── ScannerError                a scanner could not run
    │   └── ScannerPluginError      a `sandbench.scanners` entry point cannot be loaded
    └── BenchError                  a measurement could not be taken
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "BackendUnavailable",
    "BenchError",
    "BuildError",
    "InvalidInput",
    "ManifestError",
    "PolicyError",
    "SandbenchError",
    "SandboxError",
    "ScannerError",
    "ScannerPluginError",
    "TrustError",
]


class SandbenchError(Exception):
    """Root of every error sandbench raises on purpose.

    `exit_code` is what the CLI exits with; `hint` is the one thing to do about it.
    """

    exit_code = 2
    hint = ""


class InvalidInput(SandbenchError):
    """A file the user gave is invalid.

    `problems` holds one line per problem, each naming the field path, the bad value and
    what is expected. `str(error)` joins them, each prefixed with the file's path.
    """

    def __init__(self, path: Path | str, problems: Sequence[str]) -> None:
        self.path = Path(path)
        self.problems = list(problems) or ["invalid manifest"]
        super().__init__("\n".join(f"{self.path}: {p}" for p in self.problems))


class ManifestError(InvalidInput):
    """A module's manifest, tree or archive is invalid."""


class PolicyError(InvalidInput):
    """A policy file is invalid."""


class TrustError(InvalidInput):
    """A signing key, an allowed-signers file or a revocation list is unusable."""


class BuildError(InvalidInput):
    """`sandbench build` could not make a component of a module's source."""


class SandboxError(SandbenchError):
    """The sandbox host failed (not the module): e.g. a cache directory is unwritable."""

    exit_code = 3


class BackendUnavailable(SandboxError):
    """No sandbox backend of the requested kind can run on this machine."""

    def __init__(self, backend: str, reason: str, hint: str = "") -> None:
        self.backend = backend
        self.reason = reason
        self.hint = hint
        super().__init__(f"{backend} backend unavailable: {reason}")


class ScannerError(SandbenchError):
    """A scanner could not run at all (its result is then a `Skipped` entry)."""

    exit_code = 3


class ScannerPluginError(ScannerError):
    """A scanner registered in the `sandbench.scanners` entry points cannot be loaded."""

    def __init__(self, name: str, dist: str, problem: str) -> None:
        self.name = name
        self.dist = dist
        self.problem = problem
        super().__init__(f"scanner plugin {name!r} (from {dist}): {problem}")


class BenchError(SandbenchError):
    """A measurement could not be taken."""

    exit_code = 3
