"""WAT workloads for the CPU model benchmark (benchmarks/test_cpu_model.py), as `command`
modules: `_start` runs one unit of work `reps` times (0: forever) and answers 200.

They span the range of fuel per real CPU-second the fixed conversion got wrong
(FIELD-NOTES, "Fuel is not CPU time"): a counted loop, straight-line 64-bit arithmetic,
random memory access (cache misses: little fuel per second) and a quicksort of 400,000
numbers (the C `qsort` case of issue 14, written in WAT since no WASI C toolchain is
installed here).
"""

from __future__ import annotations

__all__ = ["WORKLOADS", "command"]

_WASI = "wasi_snapshot_preview1"
_BASE = 65536  # work memory starts at the second page; the response sits in the first

TIGHT_LOOP = """
  (func $unit (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000000)))))"""

_STEP = """
      (local.set $a (i64.add (i64.mul (local.get $a) (i64.const 6364136223846793005))
                             (local.get $b)))
      (local.set $b (i64.xor (local.get $b) (i64.shr_u (local.get $a) (i64.const 17))))"""

ARITHMETIC = f"""
  (func $unit (local $i i32) (local $a i64) (local $b i64)
    (local.set $a (i64.const 1))
    (local.set $b (i64.const 7))
    (loop $l {_STEP * 8}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 20000))))
    (global.set $sink (i64.add (global.get $sink) (local.get $a))))"""

MEMORY_BOUND = f"""
  (func $unit (local $i i32) (local $x i32) (local $p i32)
    (local.set $x (i32.const 12345))
    (loop $l
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245))
                             (i32.const 12345)))
      ;; a random word of a 16 MiB array
      (local.set $p (i32.add (i32.const {_BASE})
                             (i32.and (i32.shr_u (local.get $x) (i32.const 4))
                                      (i32.const 0xFFFFFC))))
      (i32.store (local.get $p) (i32.add (i32.load (local.get $p)) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 200000)))))"""

_N = 400_000
QSORT = f"""
  (func $get (param $k i32) (result i32)
    (i32.load (i32.add (i32.const {_BASE}) (i32.shl (local.get $k) (i32.const 2)))))
  (func $set (param $k i32) (param $v i32)
    (i32.store (i32.add (i32.const {_BASE}) (i32.shl (local.get $k) (i32.const 2)))
               (local.get $v)))
  ;; Hoare partition around the middle element; recurse on the left, loop on the right.
  (func $qsort (param $lo i32) (param $hi i32)
    (local $i i32) (local $j i32) (local $p i32) (local $t i32)
    (block $done
      (loop $tail
        (br_if $done (i32.ge_s (local.get $lo) (local.get $hi)))
        (local.set $p (call $get (i32.add (local.get $lo)
          (i32.shr_u (i32.sub (local.get $hi) (local.get $lo)) (i32.const 1)))))
        (local.set $i (i32.sub (local.get $lo) (i32.const 1)))
        (local.set $j (i32.add (local.get $hi) (i32.const 1)))
        (block $parted
          (loop $scan
            (loop $up
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $up (i32.lt_s (call $get (local.get $i)) (local.get $p))))
            (loop $down
              (local.set $j (i32.sub (local.get $j) (i32.const 1)))
              (br_if $down (i32.gt_s (call $get (local.get $j)) (local.get $p))))
            (br_if $parted (i32.ge_s (local.get $i) (local.get $j)))
            (local.set $t (call $get (local.get $i)))
            (call $set (local.get $i) (call $get (local.get $j)))
            (call $set (local.get $j) (local.get $t))
            (br $scan)))
        (call $qsort (local.get $lo) (local.get $j))
        (local.set $lo (i32.add (local.get $j) (i32.const 1)))
        (br $tail))))
  ;; fill {_N:,} pseudo-random numbers, then sort them
  (func $unit (local $k i32) (local $x i32)
    (local.set $x (i32.const 42))
    (loop $fill
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245))
                             (i32.const 12345)))
      (call $set (local.get $k) (i32.shr_u (local.get $x) (i32.const 1)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $k) (i32.const {_N}))))
    (call $qsort (i32.const 0) (i32.const {_N - 1})))"""

# name -> (the unit of work, pages of linear memory)
WORKLOADS = {
    "tight-loop": (TIGHT_LOOP, 1),
    "arithmetic": (ARITHMETIC, 1),
    "memory-bound": (MEMORY_BOUND, 258),
    "qsort": (QSORT, 26),
}


def command(name: str, reps: int) -> str:
    """The `command` module running workload `name` `reps` times (0: until stopped)."""
    unit, pages = WORKLOADS[name]
    more = "(i32.const 1)" if reps == 0 else f"(i32.lt_u (local.get $n) (i32.const {reps}))"
    return f"""(module
  (import "{_WASI}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") {pages})
  (global $sink (mut i64) (i64.const 0))
  (data (i32.const 0) "Status: 200\\n\\nok")
  {unit}
  (func (export "_start") (local $n i32)
    (loop $again
      (call $unit)
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $again {more}))
    (i32.store (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.const 15))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))
"""
