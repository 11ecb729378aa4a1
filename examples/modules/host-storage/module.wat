;; host-storage: writes an object to its bucket through the host API and answers with what it reads back.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "sandbench:host/v1" "storage_write" (func $storage_write (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "sandbench:host/v1" "storage_read" (func $storage_read (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0..16 iovec scratch; 1024.. constant strings; 32768..49152 the out buffer
  (data (i32.const 1024) "notes")  ;; bucket, 5 bytes
  (data (i32.const 1040) "visits/last.txt")  ;; key, 15 bytes
  (data (i32.const 1056) "hello from the host API\n")  ;; text, 24 bytes
  (data (i32.const 1088) "Status: 200 OK\nContent-Type: text/plain\n\n")  ;; head, 41 bytes
  (data (i32.const 1136) "Status: 500\nContent-Type: text/plain\n\nstorage failed\n")  ;; err, 53 bytes
  (global $leaks (mut i32) (i32.const 0))

  ;; Write len bytes at ptr to stdout; the responses here are small enough for one call.
  (func $out (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then (unreachable))))
  (func (export "_start")
    (local $n i32)
    ;; write notes/visits/last.txt, then read it back into the out buffer
    (if (i32.lt_s (call $storage_write (i32.const 1024) (i32.const 5) (i32.const 1040) (i32.const 15) (i32.const 1056) (i32.const 24)) (i32.const 0))
      (then (call $out (i32.const 1136) (i32.const 53)) (return)))
    (local.set $n (call $storage_read (i32.const 1024) (i32.const 5) (i32.const 1040) (i32.const 15) (i32.const 32768) (i32.const 16384)))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (call $out (i32.const 1136) (i32.const 53)) (return)))
    (call $out (i32.const 1088) (i32.const 41))
    (call $out (i32.const 32768) (local.get $n))
))
