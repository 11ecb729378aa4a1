;; stall: a command module that answers at once, except that during one second out of
;; every three (wall clock, UTC seconds divisible by 3) it holds each request until that
;; second is over. It models a server with a periodic ~1 s pause (a GC, a lock, a flush)
;; and is what sandbench's load tests use to show that their p99 does not hide stalls.
;;
;; WASI's sleep (poll_oneoff) is refused by the sandbox, so the module spins on
;; clock_time_get; each spin is a host call and a handful of instructions, far below the
;; fuel budget of a 2 s timeout at 1 core.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  ;; clock_time_get(clock_id, precision, out_ptr) -> errno; clock 0 is the realtime clock.
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))

  (memory (export "memory") 1)

  ;;   0..8    one iovec; 8..12 nwritten; 16..24 the clock reading (ns)
  ;;   64..    the response (54 bytes)
  (data (i32.const 64) "Status: 200 OK\nContent-Type: text/plain\n\nstall: ok\n")

  ;; The current UTC second.
  (func $second (result i64)
    (if (i32.ne (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 16)) (i32.const 0))
      (then (unreachable)))
    (i64.div_u (i64.load (i32.const 16)) (i64.const 1000000000)))

  (func $main (export "_start")
    (local $now i64)
    (local $ptr i32)
    (local $left i32)
    (local.set $now (call $second))
    ;; In a stall second, wait for the next one.
    (if (i64.eqz (i64.rem_u (local.get $now) (i64.const 3)))
      (then
        (loop $spin
          (br_if $spin (i64.eq (call $second) (local.get $now))))))
    (local.set $ptr (i32.const 64))
    (local.set $left (i32.const 51))
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $left)))
        (i32.store (i32.const 0) (local.get $ptr))
        (i32.store (i32.const 4) (local.get $left))
        (if (i32.ne
              (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
              (i32.const 0))
          (then (unreachable)))
        (if (i32.eqz (i32.load (i32.const 8)))
          (then (unreachable)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.load (i32.const 8))))
        (local.set $left (i32.sub (local.get $left) (i32.load (i32.const 8))))
        (br $again)))))
