"""sandbench's in-process matching of GuardDog's rules against GuardDog's own CLI.

The CLI (`python -m guarddog pypi scan DIR --output-format json`) runs here offline: a
clean environment, proxies at a closed port, its top-package lists copied and stamped as
fresh so that it does not try to refresh them. Everything it reports, sandbench reports;
sandbench reports more only where the CLI had stopped a rule for the whole folder after
the rule's `max_hits` (GuardDog documents `max_hits` as a cap per file).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sandbench.scanners._support import guarddog
from sandbench.scanners._support.files import module_files
from tests.scanners.conftest import ASSETS

CORPUS = ASSETS / "malicious"  # our own samples: GuardDog's rule tests are not ours to ship


def _offline_env(tmp: Path) -> dict[str, str]:
    package = guarddog._package_dir()
    assert package is not None
    caches = tmp / "caches"
    caches.mkdir()
    for path in (package / "analyzer" / "metadata" / "resources").glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        data["downloaded_timestamp"] = int(time.time())
        (caches / path.name).write_text(json.dumps(data), encoding="utf-8")
    env = {"PATH": os.defpath, "HOME": str(tmp), "LANG": "C.UTF-8"}
    env |= {"GUARDDOG_TOP_PACKAGES_CACHE_LOCATION": str(caches), "GUARDDOG_PARALLELISM": "1"}
    return env | dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY"), "http://127.0.0.1:9")


def _cli(root: Path, env: dict[str, str]) -> list[tuple[str, str]]:
    """(rule, file) of every match the CLI reports."""
    command = [sys.executable, "-m", "guarddog", "pypi", "scan", str(root)]
    command += [f"--rules={rule}" for rule in guarddog.guarddog_rules()]
    command += ["--output-format", "json", "--no-sandbox"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=True)
    results = json.loads(done.stdout)["results"]
    return [
        (rule, match["location"].rpartition(":")[0])
        for rule, matches in results.items()
        if isinstance(matches, list)
        for match in matches
    ]


def test_everything_guarddogs_cli_reports_is_reported(tmp_path):
    root = tmp_path / "module"
    shutil.copytree(CORPUS, root)
    matches = _cli(root, _offline_env(tmp_path))
    cli = set(matches)
    run = guarddog.run_guarddog(root, module_files(root))
    assert not isinstance(run, str), run
    ours = {(f.rule_id, str(f.path)) for f in run.findings}
    assert len(cli) >= 10
    assert cli <= ours
    stopped = Counter(rule for rule, _ in matches)
    for rule, _ in ours - cli:  # the CLI stopped this rule, for the folder, at its max_hits
        max_hits = guarddog._threat_rules()[rule][1].max_hits
        assert max_hits is not None
        assert stopped[rule] >= max_hits, rule
