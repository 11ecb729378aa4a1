"""Scanners are found through the `sandbench.scanners` entry points (issue 18 item 5).

A registry's own scanner is a distribution that declares an entry point in that group. The
tests install nothing: each writes a small distribution (a `.dist-info` folder with its
`entry_points.txt`, beside the module it names) into `tmp_path` and puts that folder on
`sys.path`, where `importlib.metadata` finds it as it finds any installed distribution.
The registry's scanner is the one docs/scanners.md shows.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import textwrap
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbench.cli import cli
from sandbench.errors import ScannerPluginError
from sandbench.scanners import ScanPolicy, Severity, default_scanners, scan_all
from sandbench.scanners.plugins import BUILTIN, GROUP

DOC = Path(__file__).parents[2] / "docs" / "scanners.md"


def _doc_block(lang: str, needle: str) -> str:
    """The fenced `lang` block of docs/scanners.md that contains `needle`."""
    blocks = re.findall(rf"^```{lang}\n(.*?)^```", DOC.read_text(), re.S | re.M)
    [block] = [b for b in blocks if needle in b]
    return block


# The registry's scanner and its entry point, as docs/scanners.md shows them.
ACME = _doc_block("python", "class TodoScanner")
ACME_POINTS = tomllib.loads(_doc_block("text", GROUP))["project"]["entry-points"][GROUP]

Register = Callable[..., None]


@pytest.fixture
def register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Register]:
    """`register(module, source, entry_points)`: a distribution `acme-<module>` 1.0 on
    sys.path, whose `sandbench.scanners` entry points are `{name: "module:attr"}`."""
    modules: list[str] = []

    def make(module: str, source: str, entry_points: dict[str, str]) -> None:
        site = tmp_path / f"site-{module}"
        dist_info = site / f"acme_{module}-1.0.dist-info"
        dist_info.mkdir(parents=True)
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: acme-{module}\nVersion: 1.0\n"
        )
        points = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
        (dist_info / "entry_points.txt").write_text(f"[{GROUP}]\n{points}")
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        modules.append(module)
        monkeypatch.syspath_prepend(str(site))

    yield make
    for module in modules:
        sys.modules.pop(module, None)


def test_the_builtin_scanners_are_entry_points_of_sandbench():
    points = importlib.metadata.entry_points(group=GROUP)
    ours = {p.name for p in points if p.dist is not None and p.dist.name == "sandbench"}
    assert ours == set(BUILTIN)
    assert [s.name for s in default_scanners(ScanPolicy())] == list(BUILTIN)


def test_a_registered_scanner_runs_after_the_builtins(register, make_package):
    assert ACME_POINTS == {"acme-todo": "acme_todo:make"}
    register("acme_todo", ACME, ACME_POINTS)
    scanners = default_scanners(ScanPolicy(fail_on=Severity.LOW))
    assert [s.name for s in scanners] == [*BUILTIN, "acme-todo"]
    package = make_package({"app.py": "x = 1\n# TODO: remove\n"})
    theirs = [s for s in scanners if s.name == "acme-todo"]
    report = scan_all(package, theirs, ScanPolicy(fail_on=Severity.LOW))
    [finding] = report.findings
    assert (finding.scanner, finding.rule_id, str(finding.path), finding.line) == (
        "acme-todo",
        "ACME001",
        "app.py",
        2,
    )
    assert report.failed  # LOW is at the policy's threshold


@pytest.mark.parametrize(
    ("source", "value", "problem"),
    [
        ("", "acme_gone.nowhere:make", "acme_gone.nowhere:make failed: ModuleNotFoundError: No module named 'acme_gone'"),
        ("def make(context):\n    raise RuntimeError('no licence key\\nmore')\n", "{m}:make",
         "{m}:make failed: RuntimeError: no licence key; fix or uninstall acme-{m}"),
        ("def make(context):\n    return object()\n", "{m}:make",
         "{m}:make returned object (name None), not a scanner named 'broken' with a "
         "scan(package) method; fix or uninstall acme-{m}"),
    ],
    ids=["does-not-import", "factory-raises", "not-a-scanner"],
)  # fmt: skip
def test_a_broken_plugin_fails_in_one_line(register, source, value, problem, request):
    module = f"acme_broken_{request.node.callspec.id.replace('-', '_')}"
    register(module, source, {"broken": value.format(m=module)})
    with pytest.raises(ScannerPluginError) as caught:
        default_scanners(ScanPolicy())
    message = str(caught.value)
    assert message.startswith(f"scanner plugin 'broken' (from acme-{module} 1.0): ")
    assert problem.format(m=module) in message
    assert "\n" not in message


def test_the_cli_names_the_broken_plugin_and_exits_3(register, make_package):
    register("acme_cli", "", {"broken": "acme_cli:missing"})
    package = make_package()
    result = CliRunner().invoke(cli, ["scan", str(package.root)])
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    assert lines == [
        "sandbench: error: scanner plugin 'broken' (from acme-acme_cli 1.0): acme_cli:missing "
        "failed: AttributeError: module 'acme_cli' has no attribute 'missing'; "
        "fix or uninstall acme-acme_cli"
    ]


def test_a_name_registered_twice_is_refused(register):
    register("acme_twice", ACME, {"bandit": "acme_twice:make"})
    with pytest.raises(ScannerPluginError) as caught:
        default_scanners(ScanPolicy())
    assert str(caught.value) == (
        "scanner plugin 'bandit' (from acme-acme_twice 1.0 and sandbench 0.1.0): "
        "registered twice; uninstall one"
    )
