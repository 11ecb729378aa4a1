;; host-log: one structured log line through sandbench:host/v1 "log", then 200.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "sandbench:host/v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0..16 iovec scratch; 1024.. constant strings; 32768..49152 the out buffer
  (data (i32.const 1024) "{\"message\": \"health check served\", \"module\": \"host-log\", \"calls\": 1}")  ;; line, 68 bytes
  (data (i32.const 1104) "Status: 200 OK\nContent-Type: text/plain\n\nlogged\n")  ;; ok, 48 bytes
  (data (i32.const 1152) "Status: 500\nContent-Type: text/plain\n\nlog refused\n")  ;; err, 50 bytes
  (global $leaks (mut i32) (i32.const 0))

  ;; Write len bytes at ptr to stdout; the responses here are small enough for one call.
  (func $out (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then (unreachable))))
  (func (export "_start")
    (if (i32.lt_s (call $log (i32.const 1) (i32.const 1024) (i32.const 68)) (i32.const 0))
      (then (call $out (i32.const 1152) (i32.const 50)) (return)))
    (call $out (i32.const 1104) (i32.const 48))
))
