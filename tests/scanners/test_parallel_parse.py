"""Parsing Python in many threads at once: no scanner or build step may hit CPython 3.11's
`SystemError: AST constructor recursion depth mismatch` (see `sandbench._pyast`)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sandbench
from sandbench._pyast import parse
from sandbench.scanners._support.pysource import python_use
from sandbench.scanners.malware import scan_source

SOURCE = (
    "import os\nimport subprocess\n"
    + "x = " + "(" * 40 + "1" + ")" * 40 + "\n"
    + "def f(a):\n    return [b for b in range(a) if b]\n" * 150
    + "subprocess.run(os.environ['CMD'], shell=True)\n"
    + 'DATA = "' + "0123456789abcdef" * 64 + '"\n'
)  # fmt: skip


class _Finalized:
    """Cyclic garbage with a Python `__del__`: collecting it runs bytecode, which lets the
    interpreter switch threads in the middle of another thread's tree building."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        sum(range(20))


def _churn_and(work, rounds: int) -> list[object]:
    results = []
    for _ in range(rounds):
        for _ in range(30):
            _Finalized()
        results.append(work())
    return results


def test_parses_from_many_threads_at_once_never_fail(tmp_path: Path):
    (tmp_path / "app.py").write_text(SOURCE)
    jobs = [
        lambda: len(parse(SOURCE).body),
        lambda: len(scan_source(SOURCE, "app.py")),
        lambda: python_use(tmp_path).files,
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(_churn_and, jobs[i % 3], 25) for i in range(8)]
        results = [f.result() for f in futures]  # a SystemError would be raised here
    for i, seen in enumerate(results):
        assert len(set(seen)) == 1, f"job {i % 3} gave different answers: {set(seen)}"
    assert results[0][0] == len(parse(SOURCE).body)
    assert results[1][0] > 0  # the high-entropy blob is found


def test_every_parse_in_sandbench_goes_through_the_lock():
    root = Path(sandbench.__file__).parent
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in root.rglob("*.py")
        if path.name != "_pyast.py" and "guest" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bast\.(parse|literal_eval)\(|PyCF_ONLY_AST|from ast import", line)
    ]
    assert offenders == []
