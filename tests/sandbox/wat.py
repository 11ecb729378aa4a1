"""Tiny WAT modules for the sandbox tests: each exercises one behaviour, nothing else."""

from __future__ import annotations

WASI = "wasi_snapshot_preview1"


def wat_bytes(data: bytes) -> str:
    """`data` as a WAT string literal body (every byte hex-escaped)."""
    return "".join(f"\\{b:02x}" for b in data)


def command(
    body: str, *, data: bytes = b"", imports: str = "", extra: str = "", pages: int = 1
) -> str:
    """A command module whose `_start` runs `body`; `data` is placed at offset 64."""
    return f"""(module
  (import "{WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "proc_exit" (func $proc_exit (param i32)))
  {imports}
  (memory (export "memory") {pages})
  (data (i32.const 64) "{wat_bytes(data)}")
  {extra}
  (func $write (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
  (func (export "_start") {body}))"""


def respond(output: bytes) -> str:
    """A command module that writes `output` (CGI output) to stdout and returns."""
    write = f"(drop (call $write (i32.const 1) (i32.const 64) (i32.const {len(output)})))"
    return command(write, data=output)


OK = respond(b"Status: 200\nContent-Type: text/plain\n\nok\n")
SPIN = command("(loop $l (br $l))")
SPIN_START = """(module
  (func $spin (loop $l (br $l)))
  (start $spin)
  (func (export "_start")))"""
TRAP = command("unreachable")
EXIT_3 = command("(call $proc_exit (i32.const 3))")
STACK = command(
    "(call $recurse (i32.const 0))",
    extra="""
  (func $recurse (param i32) (call $recurse (i32.add (local.get 0) (i32.const 1))))""",
)
# Grows linear memory one page at a time until refused, then traps.
MEMORY_BOMB = command("""
  (block $done (loop $l
    (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
    (br $l)))
  unreachable""")
BIG_INITIAL_MEMORY = '(module (memory 1024) (func (export "_start")))'
# Writes 4 KiB of stdout forever, ignoring errors.
FLOOD = command("""
  (loop $l (drop (call $write (i32.const 1) (i32.const 1024) (i32.const 4096))) (br $l))""")
UNKNOWN_IMPORT = """(module
  (import "env" "launch_missiles" (func $launch))
  (func (export "_start") (call $launch)))"""
NO_START = '(module (memory (export "memory") 1))'
BAD_RESPONSE = respond(b"just some text without headers")
# Exits with the number of environment variables / arguments / the errno of a call.
ENV_COUNT = command(
    "(drop (call $environ_sizes_get (i32.const 200) (i32.const 204)))"
    "(call $proc_exit (i32.load (i32.const 200)))",
    imports=f'(import "{WASI}" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))',
)
ARG_COUNT = command(
    "(drop (call $args_sizes_get (i32.const 200) (i32.const 204)))"
    "(call $proc_exit (i32.load (i32.const 200)))",
    imports=f'(import "{WASI}" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))',
)
PRESTAT_FD3 = command(
    "(call $proc_exit (call $fd_prestat_get (i32.const 3) (i32.const 200)))",
    imports=f'(import "{WASI}" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))',
)
POLL_IMPORT = (
    f'(import "{WASI}" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))'
)


def poll(subscriptions: bytes, count: int | None = None, *, forever: bool = False) -> str:
    """A command module that calls `poll_oneoff` on `subscriptions` (placed at 4096) and
    answers `errno u32, nevents u32, events` (at 8192) as its body; `forever`: poll again
    and again, never answering."""
    n = len(subscriptions) // 48 if count is None else count
    call = f"(call $poll_oneoff (i32.const 4096) (i32.const 8192) (i32.const {n}) (i32.const 200))"
    if forever:
        return command(
            f"(loop $l (drop {call}) (br $l))", extra=_at(4096, subscriptions), imports=POLL_IMPORT
        )
    body = f"""
    (i32.store (i32.const 196) {call})
    (drop (call $write (i32.const 1) (i32.const 64) (i32.const 13)))
    (drop (call $write (i32.const 1) (i32.const 196) (i32.const 8)))
    (drop (call $write (i32.const 1) (i32.const 8192) (i32.mul (i32.load (i32.const 200)) (i32.const 32))))"""
    return command(
        body, data=b"Status: 200\n\n", extra=_at(4096, subscriptions), imports=POLL_IMPORT
    )


def _at(offset: int, data: bytes) -> str:
    return f'(data (i32.const {offset}) "{wat_bytes(data)}")' if data else ""


# Sleeps until `clock_time_get(monotonic) + 50 ms` with an absolute subscription, then
# answers the monotonic clock before and after (two u64) as its body.
SLEEP_UNTIL = command(
    """
    (drop (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 304)))
    (i64.store (i32.const 4096) (i64.const 7))
    (i32.store8 (i32.const 4104) (i32.const 0))
    (i32.store (i32.const 4112) (i32.const 1))
    (i64.store (i32.const 4120) (i64.add (i64.load (i32.const 304)) (i64.const 50000000)))
    (i32.store16 (i32.const 4136) (i32.const 1))
    (if (call $poll_oneoff (i32.const 4096) (i32.const 8192) (i32.const 1) (i32.const 200))
      (then (unreachable)))
    (drop (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 312)))
    (drop (call $write (i32.const 1) (i32.const 64) (i32.const 13)))
    (drop (call $write (i32.const 1) (i32.const 304) (i32.const 16)))""",
    data=b"Status: 200\n\n",
    imports=POLL_IMPORT
    + f'(import "{WASI}" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))',
)


# Writes `n` KiB to stderr in 1 KiB writes, failing (unreachable) on any error, then answers.
def stderr_flood(kib: int) -> str:
    return command(
        f"""
    (local $i i32)
    (loop $l
      (if (call $write (i32.const 2) (i32.const 1024) (i32.const 1024)) (then (unreachable)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {kib}))))
    (drop (call $write (i32.const 1) (i32.const 64) (i32.const 16)))""",
        data=b"Status: 200\n\nok\n",
    )


# Reads stdin into memory at 1024 and echoes it after a CGI head.
ECHO = command(
    """
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 4096))
    (drop (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
    (drop (call $write (i32.const 1) (i32.const 64) (i32.const 13)))
    (drop (call $write (i32.const 1) (i32.const 1024) (i32.load (i32.const 24))))""",
    data=b"Status: 200\n\n",
    imports=f'(import "{WASI}" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))',
)
# Burns about 1.5 million fuel and answers: for the CPU share tests.
BURN = command(
    """
    (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 200000))))
    (drop (call $write (i32.const 1) (i32.const 64) (i32.const 15)))""",
    data=b"Status: 200\n\nok",
)

# A reactor: counts calls in a global and answers "n=<count>"; a request over 200 bytes traps.
REACTOR = """(module
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 0) "Status: 200\\nContent-Type: text/plain\\n\\nn=0")
  (func (export "sandbench_alloc") (param $size i32) (result i32) (i32.const 1024))
  (func (export "sandbench_handle") (param $ptr i32) (param $len i32) (result i64)
    (if (i32.gt_u (local.get $len) (i32.const 200)) (then unreachable))
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store8 (i32.const 40) (i32.add (i32.const 48) (global.get $calls)))
    (i64.const 41)))"""
REACTOR_SPIN_INIT = """(module
  (memory (export "memory") 1)
  (func (export "_initialize") (loop $l (br $l)))
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sandbench_handle") (param i32 i32) (result i64) (i64.const 0)))"""
REACTOR_BAD_POINTER = """(module
  (memory (export "memory") 1)
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sandbench_handle") (param i32 i32) (result i64) (i64.const 0x7fff000000000010)))"""

_PATH_OPEN = (
    f'(import "{WASI}" "path_open" (func $path_open '
    "(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"
)
_FD_READ = f'(import "{WASI}" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))'
# Opens data.txt in the first preopened directory (fd 3) and answers with its content;
# exits with the WASI errno when the open fails.
READ_BUCKET_FILE = command(
    """
    (local $err i32)
    (local.set $err (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 8)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 304)))
    (if (local.get $err) (then (call $proc_exit (local.get $err))))
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 4096))
    (drop (call $fd_read (i32.load (i32.const 304)) (i32.const 16) (i32.const 1) (i32.const 24)))
    (drop (call $write (i32.const 1) (i32.const 72) (i32.const 13)))
    (drop (call $write (i32.const 1) (i32.const 1024) (i32.load (i32.const 24))))""",
    data=b"data.txtStatus: 200\n\n",
    imports=_PATH_OPEN + _FD_READ,
)
# Creates out.txt in fd 3 and writes "written" into it; exits with the errno on failure.
WRITE_BUCKET_FILE = command(
    """
    (local $err i32)
    (local.set $err (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 7)
      (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 304)))
    (if (local.get $err) (then (call $proc_exit (local.get $err))))
    (drop (call $write (i32.load (i32.const 304)) (i32.const 71) (i32.const 7)))
    (drop (call $write (i32.const 1) (i32.const 78) (i32.const 13)))""",
    data=b"out.txtwrittenStatus: 201\n\n",
    imports=_PATH_OPEN,
)
# Tries to accept a connection on fd 3; exits with the errno.
SOCKET_ACCEPT = command(
    "(call $proc_exit (call $sock_accept (i32.const 3) (i32.const 0) (i32.const 200)))",
    imports=f'(import "{WASI}" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))',
)


def many_functions(count: int) -> str:
    """A module of `count` exported functions: cheap to write, costly to compile (each
    function is compiled and kept: 30,000 need some 370 MB, 150,000 some 1.8 GB)."""
    funcs = "\n".join(
        f'(func (export "f{i}") (param i32) (result i32) local.get 0 i32.const {i} i32.add)'
        for i in range(count)
    )
    return f"(module\n{funcs}\n)"


# Both a command (`_start`) and a reactor: one artifact, loaded on either engine; 20 kB of
# data make it larger than what compiles in-process (compiler.COMPILE_IN_PROCESS).
BOTH_ABIS = f"""(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "Status: 200\\nContent-Type: text/plain\\n\\nok")
  (data (i32.const 100) "\\00\\00\\00\\00\\28\\00\\00\\00")
  (data (i32.const 4096) "{wat_bytes(bytes(20_000))}")
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 200))))
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sandbench_handle") (param i32 i32) (result i64) (i64.const 40)))"""
