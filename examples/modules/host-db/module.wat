;; host-db: counts its visits in the vendas schema through the host API (db_execute, db_query).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "sandbench:host/v1" "db_execute" (func $db_execute (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "sandbench:host/v1" "db_query" (func $db_query (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0..16 iovec scratch; 1024.. constant strings; 32768..49152 the out buffer
  (data (i32.const 1024) "vendas")  ;; schema, 6 bytes
  (data (i32.const 1040) "CREATE TABLE IF NOT EXISTS visits (path TEXT NOT NULL)")  ;; create, 54 bytes
  (data (i32.const 1104) "INSERT INTO visits (path) VALUES (?)")  ;; insert, 36 bytes
  (data (i32.const 1152) "[\"/\"]")  ;; params, 5 bytes
  (data (i32.const 1168) "SELECT count(*) AS visits FROM visits")  ;; count, 37 bytes
  (data (i32.const 1216) "")  ;; none, 0 bytes
  (data (i32.const 1216) "Status: 200 OK\nContent-Type: application/json\n\n")  ;; head, 47 bytes
  (data (i32.const 1264) "Status: 500\nContent-Type: text/plain\n\ndatabase failed\n")  ;; err, 54 bytes
  (global $leaks (mut i32) (i32.const 0))

  ;; Write len bytes at ptr to stdout; the responses here are small enough for one call.
  (func $out (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then (unreachable))))
  (func (export "_start")
    (local $n i32)
    (if (i32.lt_s (call $db_execute (i32.const 1024) (i32.const 6) (i32.const 1040) (i32.const 54) (i32.const 1216) (i32.const 0) (i32.const 32768) (i32.const 16384)) (i32.const 0))
      (then (call $out (i32.const 1264) (i32.const 54)) (return)))
    ;; the path is a bound parameter, never part of the SQL text
    (if (i32.lt_s (call $db_execute (i32.const 1024) (i32.const 6) (i32.const 1104) (i32.const 36) (i32.const 1152) (i32.const 5) (i32.const 32768) (i32.const 16384)) (i32.const 0))
      (then (call $out (i32.const 1264) (i32.const 54)) (return)))
    (local.set $n (call $db_query (i32.const 1024) (i32.const 6) (i32.const 1168) (i32.const 37) (i32.const 1216) (i32.const 0) (i32.const 32768) (i32.const 16384)))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (call $out (i32.const 1264) (i32.const 54)) (return)))
    (call $out (i32.const 1216) (i32.const 47))
    (call $out (i32.const 32768) (local.get $n))
))
