"""Gate verdicts on a busy machine: N gates of each module, K at a time.

    python -m benchmarks.busy_gates [--runs 20] [--parallel 6] [MODULE ...]

Each gate is a `sandbench gate MODULE --format json` process; K of them run at once, so on
a 2-core machine they fight over the cores (and with whatever else runs). A verdict that
holds must come out the same in every run: `examples/modules/vendas` HEALTHY, a slow
module DEGRADED or worse. Without MODULE arguments it gates vendas, `examples/modules/stall`
and `burn-300ms` (written here: burns about 300 ms of CPU in every call, signed, so
nothing but its cost can fail it). Prints, per module, the count of each status and of
each latency-rule outcome, and the load test's p95 and the reference module's p95 per run.
Not part of the test suite: it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "modules"

# Burns about 300 ms of CPU a call on the reference machine (3.3 million clock reads: a
# fixed amount of work, not a wall-clock wait), then answers 200.
BURN_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "Status: 200\\n\\nburnt\\n")
  (func (export "_start")
    (local $n i32)
    (local.set $n (i32.const 3300000))
    (loop $burn
      (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 16)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $burn (local.get $n)))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 19))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""


def burn_module(folder: Path) -> Path:
    """Write the signed burn-300ms module under `folder`."""
    root = folder / "burn-300ms"
    shutil.copytree(EXAMPLES / "hello", root)
    (root / "module.wat").write_text(BURN_WAT)
    manifest = json.loads((root / "module.json").read_text())
    manifest["name"] = "@bench/burn-300ms"
    manifest["description"] = "Burns about 300 ms of CPU in every call."
    manifest["security"]["limits"].update({"cpu": "1", "timeout": "2s"})
    manifest.pop("signature", None)
    (root / "module.json").write_text(json.dumps(manifest, indent=2))
    digest = _sandbench("manifest", "digest", str(root)).stdout.strip().split()[-1]
    manifest["signature"] = digest if digest.startswith("SHA256:") else f"SHA256:{digest}"
    (root / "module.json").write_text(json.dumps(manifest, indent=2))
    return root


def _sandbench(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "sandbench"), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603


def gate_once(module: Path, cache: Path) -> dict[str, object]:
    """One gate run: its status, the latency rules' outcomes, the load test's figures."""
    done = _sandbench("gate", str(module), "--format", "json", "--cache-dir", str(cache))
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"status": f"error (exit {done.returncode}): {done.stderr.strip()[-200:]}"}
    rules = {r["rule"]: r for r in report["rules"]}
    test = report.get("loadTest") or {}
    return {
        "status": report["status"],
        "reasons": report["reasons"],
        "outcomes": {
            name: "inconclusive" if r.get("inconclusive") else r["status"]
            for name, r in rules.items()
            if name in ("latency-p95", "load-test")
        },
        "p95": (test.get("latencyMs") or {}).get("p95"),
        "message": rules.get("load-test", {}).get("message", ""),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=6)
    parser.add_argument("modules", nargs="*", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="busy-gates-") as tmp:
        folder = Path(tmp)
        modules = args.modules or [EXAMPLES / "vendas", EXAMPLES / "stall", burn_module(folder)]
        cache = folder / "cache"
        _sandbench("gate", str(modules[0]), "--format", "json", "--cache-dir", str(cache))
        for module in modules:
            with ThreadPoolExecutor(max_workers=args.parallel) as pool:
                runs = list(pool.map(gate_once, [module] * args.runs, [cache] * args.runs))
            _print(module.name, runs)
    return 0


def _print(name: str, runs: list[dict[str, object]]) -> None:
    statuses = Counter(str(r["status"]) for r in runs)
    print(f"{name}: {len(runs)} gates: " + ", ".join(f"{s} {n}" for s, n in statuses.items()))
    for rule in ("latency-p95", "load-test"):
        seen = Counter(str(r.get("outcomes", {}).get(rule)) for r in runs)  # type: ignore[union-attr]
        print(f"  {rule}: " + ", ".join(f"{s} {n}" for s, n in seen.items()))
    p95 = sorted(float(r["p95"]) for r in runs if isinstance(r.get("p95"), (int, float)))
    if p95:
        print(
            f"  load-test p95 ms: min {p95[0]:.1f}, median {p95[len(p95) // 2]:.1f}, max {p95[-1]:.1f}"
        )
    for r in runs:
        if r["status"] != "healthy" or r.get("outcomes", {}).get("load-test") == "inconclusive":  # type: ignore[union-attr]
            print(f"    {r['status']} {r.get('reasons')}: {r.get('message')}")


if __name__ == "__main__":
    sys.exit(main())
