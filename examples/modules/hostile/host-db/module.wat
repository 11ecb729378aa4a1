;; HOSTILE host-db: granted database:read:vendas, reaches for another schema every way it can
;; and tries to write through its read grant.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "sandbench:host/v1" "db_query" (func $db_query (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "sandbench:host/v1" "db_execute" (func $db_execute (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0..16 iovec scratch; 1024.. constant strings; 32768..49152 the out buffer
  (data (i32.const 1024) "vendas")  ;; vendas, 6 bytes
  (data (i32.const 1040) "rh")  ;; rh, 2 bytes
  (data (i32.const 1056) "SELECT 1")  ;; one, 8 bytes
  (data (i32.const 1072) "")  ;; none, 0 bytes
  (data (i32.const 1072) "ATTACH DATABASE 'rh.sqlite3' AS rh")  ;; attach, 34 bytes
  (data (i32.const 1120) "SELECT * FROM rh.salaries")  ;; qualified, 25 bytes
  (data (i32.const 1152) "PRAGMA writable_schema = 1")  ;; pragma, 26 bytes
  (data (i32.const 1184) "SELECT load_extension('/tmp/evil.so')")  ;; ext, 37 bytes
  (data (i32.const 1232) "CREATE TABLE evil (x int)")  ;; create, 25 bytes
  (data (i32.const 1264) "SET search_path TO rh")  ;; search, 21 bytes
  (data (i32.const 1296) "Status: 200 OK\nContent-Type: text/plain\n\nevery attempt was refused\n")  ;; ok, 67 bytes
  (data (i32.const 1376) "Status: 500\nContent-Type: text/plain\n\nan attempt was NOT refused\n")  ;; leak, 65 bytes
  (global $leaks (mut i32) (i32.const 0))

  ;; Write len bytes at ptr to stdout; the responses here are small enough for one call.
  (func $out (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then (unreachable))))

  ;; A refusal is what we want: count a success (>= 0), or a code other than $want when
  ;; $want is not 0, as a leak.
  (func $expect (param $got i32) (param $want i32)
    (if (i32.ge_s (local.get $got) (i32.const 0))
      (then (global.set $leaks (i32.add (global.get $leaks) (i32.const 1)))))
    (if (i32.and (i32.ne (local.get $want) (i32.const 0))
                 (i32.ne (local.get $got) (local.get $want)))
      (then (global.set $leaks (i32.add (global.get $leaks) (i32.const 1))))))
  (func (export "_start")
    ;; a schema it was not granted
    (call $expect (call $db_query (i32.const 1040) (i32.const 2) (i32.const 1056) (i32.const 8) (i32.const 1072) (i32.const 0) (i32.const 32768) (i32.const 16384)) (i32.const -1))
    ;; reaching another schema from the granted one: a qualified name, ATTACH, PRAGMA,
    ;; extensions (the last three are SQLite's; PostgreSQL fails them as syntax errors,
    ;; so any refusal will do: want 0)
    (call $expect (call $db_query (i32.const 1024) (i32.const 6) (i32.const 1120) (i32.const 25) (i32.const 1072) (i32.const 0) (i32.const 32768) (i32.const 16384)) (i32.const -1))
    (call $expect (call $db_query (i32.const 1024) (i32.const 6) (i32.const 1072) (i32.const 34) (i32.const 1072) (i32.const 0) (i32.const 32768) (i32.const 16384)) (i32.const 0))
    (call $expect (call $db_query (i32.const 1024) (i32.const 6) (i32.const 1152) (i32.const 26) (i32.const 1072) (i32.const 0) (i32.const 32768) (i32.const 16384)) (i32.const 0))
    (call $expect (call $db_query (i32.const 1024) (i32.const 6) (i32.const 1184) (i32.const 37) (i32.const 1072) (i32.const 0) (i32.const 32768) (i32.const 16384)) (i32.const 0))
    ;; writing through a read grant, with db_execute and smuggled into db_query
    (call $expect (call $db_execute (i32.const 1024) (i32.const 6) (i32.const 1232) (i32.const 25) (i32.const 1072) (i32.const 0) (i32.const 32768) (i32.const 16384)) (i32.const -1))
    (call $expect (call $db_query (i32.const 1024) (i32.const 6) (i32.const 1232) (i32.const 25) (i32.const 1072) (i32.const 0) (i32.const 32768) (i32.const 16384)) (i32.const -1))
    ;; switching schemas (PostgreSQL's; SQLite fails it as a syntax error)
    (call $expect (call $db_query (i32.const 1024) (i32.const 6) (i32.const 1264) (i32.const 21) (i32.const 1072) (i32.const 0) (i32.const 32768) (i32.const 16384)) (i32.const 0))
    ;; Every attempt refused: a normal answer. Anything else: exit 1, an exit violation.
    (if (global.get $leaks)
      (then (call $out (i32.const 1376) (i32.const 65)) (call $proc_exit (i32.const 1))))
    (call $out (i32.const 1296) (i32.const 67))
))
