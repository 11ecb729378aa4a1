;; HOSTILE host-storage: writes to a read-only bucket, reads another bucket, leaves a bucket
;; with .. and an absolute key, follows a planted symlink, and writes past its quota.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "sandbench:host/v1" "storage_read" (func $storage_read (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "sandbench:host/v1" "storage_write" (func $storage_write (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink"
    (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0..16 iovec scratch; 1024.. constant strings; 32768..49152 the out buffer
  (data (i32.const 1024) "docs")  ;; docs, 4 bytes
  (data (i32.const 1040) "scratch")  ;; scratch, 7 bytes
  (data (i32.const 1056) "other")  ;; other, 5 bytes
  (data (i32.const 1072) "planted.txt")  ;; planted, 11 bytes
  (data (i32.const 1088) "secret.txt")  ;; secret, 10 bytes
  (data (i32.const 1104) "../scratch/x")  ;; dotdot, 12 bytes
  (data (i32.const 1120) "/etc/passwd")  ;; passwd, 11 bytes
  (data (i32.const 1136) "link")  ;; link, 4 bytes
  (data (i32.const 1152) "../other/secret.txt")  ;; target, 19 bytes
  (data (i32.const 1184) "big.bin")  ;; big, 7 bytes
  (data (i32.const 1200) "x")  ;; x, 1 bytes
  (data (i32.const 1216) "Status: 200 OK\nContent-Type: text/plain\n\nevery attempt was refused\n")  ;; ok, 67 bytes
  (data (i32.const 1296) "Status: 500\nContent-Type: text/plain\n\nan attempt was NOT refused\n")  ;; leak, 65 bytes
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
    ;; a write to the read-only bucket
    (call $expect (call $storage_write (i32.const 1024) (i32.const 4) (i32.const 1072) (i32.const 11) (i32.const 1200) (i32.const 1)) (i32.const -1))
    ;; a bucket it was not granted
    (call $expect (call $storage_read (i32.const 1056) (i32.const 5) (i32.const 1088) (i32.const 10) (i32.const 32768) (i32.const 16384)) (i32.const -1))
    ;; out of a bucket with .. and with an absolute key
    (call $expect (call $storage_read (i32.const 1024) (i32.const 4) (i32.const 1104) (i32.const 12) (i32.const 32768) (i32.const 16384)) (i32.const -1))
    (call $expect (call $storage_read (i32.const 1024) (i32.const 4) (i32.const 1120) (i32.const 11) (i32.const 32768) (i32.const 16384)) (i32.const -1))
    ;; plant a symlink out of the bucket with WASI in the writable bucket (preopen fd 4), then
    ;; read it through the host API: never followed, whether or not WASI let it be made
    (drop (call $path_symlink (i32.const 1152) (i32.const 19) (i32.const 4) (i32.const 1136) (i32.const 4)))
    (call $expect (call $storage_read (i32.const 1040) (i32.const 7) (i32.const 1136) (i32.const 4) (i32.const 32768) (i32.const 16384)) (i32.const 0))
    ;; 8 KiB into a module whose limits.storage is 4KB
    (call $expect (call $storage_write (i32.const 1040) (i32.const 7) (i32.const 1184) (i32.const 7) (i32.const 40000) (i32.const 8192)) (i32.const -3))
    ;; Every attempt refused: a normal answer. Anything else: exit 1, an exit violation.
    (if (global.get $leaks)
      (then (call $out (i32.const 1296) (i32.const 65)) (call $proc_exit (i32.const 1))))
    (call $out (i32.const 1216) (i32.const 67))
))
