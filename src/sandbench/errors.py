"""The exceptions sandbench raises, all below one root, and the wording of validation problems.

Exceptions are for faults of the host, the input or the environment. Anything a *module*
does wrong while it runs (a trap, an exhausted budget, a flood of output) is data: an
`Outcome` with a `Violation`, never an exception. The CLI prints each one as
`sandbench: error: ...` (an `InvalidInput` one line per problem) and exits with its code
(tests/test_errors.py checks this drawing against the classes):

    exception                        exit  meaning
    SandbenchError                      2  anything sandbench raises on purpose
    ├── UsageProblem                    2  command-line options that do not go together
    ├── InvalidInput                    2  a file the user gave is unusable; one line per problem
    │   ├── ManifestError               2  a module.json, module tree or module archive
    │   ├── PolicyError                 2  a policy file (or a nightly profile over one)
    │   ├── TrustError                  2  a signing key, allowed-signers file or revocation list
    │   ├── BuildError                  2  a module's source that `sandbench build` cannot build
    │   ├── ConfigError                 2  a nightly CONFIG.toml or an index file it names
    │   ├── CompileLimitError           2  a module's wasm that cannot compile within the bounds
    │   └── ScanInputError              2  a scanner's input file: a baseline, an advisory export
    ├── SandboxError                    3  the sandbox host itself failed (not the module)
    │   └── BackendUnavailable          3  no backend of the kind asked for can run here
    ├── ScannerError                    3  a scanner could not run at all
    │   └── ScannerPluginError          3  a `sandbench.scanners` entry point cannot be loaded
    ├── BenchError                      3  a measurement could not be taken
    └── NightlyError                    3  the nightly machinery failed (a worker cannot start)
        ├── StoreError                  3  the history store cannot be opened or used
        └── ShardError                  2  a --shard value or matrix cell this build cannot run

Exit codes 0 and 1 are not errors: the gate passed, or it failed on the module's evidence.

`validation_lines` is the one way a pydantic `ValidationError` becomes problem lines
(`field.path: message`), whatever file was validated; `read_toml` the one way a TOML file
the user gave is read (a file that cannot be read or parsed is one line of its error).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pydantic is imported only by the callers: this module stays cheap
    from pydantic import ValidationError
    from pydantic_core import ErrorDetails

__all__ = [
    "BackendUnavailable",
    "BenchError",
    "BuildError",
    "CompileLimitError",
    "ConfigError",
    "InvalidInput",
    "ManifestError",
    "NightlyError",
    "PolicyError",
    "SandbenchError",
    "SandboxError",
    "ScanInputError",
    "ScannerError",
    "ScannerPluginError",
    "ShardError",
    "StoreError",
    "TrustError",
    "UsageProblem",
    "problem_message",
    "read_toml",
    "validation_lines",
]


class SandbenchError(Exception):
    """Root of every error sandbench raises on purpose.

    `exit_code` is what the CLI exits with; `hint` is the one thing to do about it.
    """

    exit_code = 2
    hint = ""


class UsageProblem(SandbenchError):
    """Command-line options that do not go together, or an option's value that is unusable."""


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


class ConfigError(InvalidInput):
    """A nightly CONFIG.toml (or an index file it names) is invalid."""


class CompileLimitError(InvalidInput):
    """A module's wasm needs more memory or time to compile than the policy's compile bounds
    allow (`compile_memory`, `compile_timeout_s`). (A compile the gate's deadline or a
    signal stopped is a load violation instead: `timeout`.)"""


class ScanInputError(InvalidInput):
    """A file given to the scanners (a baseline, an advisory export or store) is unusable.

    `problem` is the one problem; `str(error)` is `PATH: problem`.
    """

    def __init__(self, path: Path | str, problem: str) -> None:
        self.problem = problem
        super().__init__(path, [problem])


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


class NightlyError(SandbenchError):
    """The nightly machinery itself failed (e.g. a worker process cannot start)."""

    exit_code = 3


class StoreError(NightlyError):
    """The history store cannot be opened or used."""


class ShardError(NightlyError):
    """A `--shard` value that is not I/N with 0 <= I < N, or a matrix cell this build cannot
    run (an unknown axis, a backend that is not built in): the run's input, so exit code 2."""

    exit_code = 2


def problem_message(error: ErrorDetails) -> str:
    """pydantic's message for one problem, without the `Value error, ` it puts before the
    text of our own validators (which already say what is expected)."""
    return error["msg"].removeprefix("Value error, ")


def validation_lines(
    exc: ValidationError,
    under: str = "",
    *,
    line: Callable[[ErrorDetails], str] | None = None,
) -> list[str]:
    """One line per problem in `exc`, in pydantic's order: `field.path: message`.

    The path joins the location with dots (`ignore.0.reason`), below `under` when the
    validated value sits inside the file (`profiles.small.defaults` + `memory`); a problem
    of the whole value is `(top level)`. `line` words a problem itself instead, for a file
    format with its own path notation (the manifest's JSON paths). Never raises.
    """
    if line is not None:
        return [line(error) for error in exc.errors()]
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in (under, *error["loc"]) if part != "")
        lines.append(f"{where or '(top level)'}: {problem_message(error)}")
    return lines


def read_toml(path: Path, error: type[InvalidInput]) -> dict[str, Any]:
    """The table in the TOML file `path`. Raises `error(path, [line])` when the file cannot
    be read, is not UTF-8 or is not TOML: a file the user gave, so exit 2 and one line."""
    import tomllib  # here, not at the top: the console script imports this module first

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(path, [f"cannot be read: {exc.strerror}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(path, [f"not valid TOML: {exc}"]) from None
