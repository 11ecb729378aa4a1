;; host-http: one GET to its granted host through the host API; 502 when that fails.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "sandbench:host/v1" "http_fetch" (func $http_fetch (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0..16 iovec scratch; 1024.. constant strings; 32768..49152 the out buffer
  (data (i32.const 1024) "GET http://crm.example.com/customers/7\nAccept: application/json\n\n")  ;; req, 65 bytes
  (data (i32.const 1104) "Status: 200 OK\nContent-Type: text/plain\n\n")  ;; head, 41 bytes
  (data (i32.const 1152) "Status: 502\nContent-Type: text/plain\n\ncrm.example.com did not answer\n")  ;; err, 69 bytes
  (global $leaks (mut i32) (i32.const 0))

  ;; Write len bytes at ptr to stdout; the responses here are small enough for one call.
  (func $out (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then (unreachable))))
  (func (export "_start")
    (local $n i32)
    (local.set $n (call $http_fetch (i32.const 1024) (i32.const 65) (i32.const 32768) (i32.const 16384)))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (call $out (i32.const 1152) (i32.const 69)) (return)))
    ;; pass on the upstream answer (its status line and headers included) as text
    (call $out (i32.const 1104) (i32.const 41))
    (call $out (i32.const 32768) (local.get $n))
))
