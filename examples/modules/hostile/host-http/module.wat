;; HOSTILE host-http: reaches for ungranted hosts (by name, by loopback and metadata address,
;; by a look-alike suffix) and past its rate limit. Each must be refused.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "sandbench:host/v1" "http_fetch" (func $http_fetch (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0..16 iovec scratch; 1024.. constant strings; 32768..49152 the out buffer
  (data (i32.const 1024) "GET http://evil.example.net/steal\n\n")  ;; evil, 35 bytes
  (data (i32.const 1072) "GET http://127.0.0.1:22/\n\n")  ;; loopback, 26 bytes
  (data (i32.const 1104) "GET http://crm.example.com.evil.net/\n\n")  ;; suffix, 38 bytes
  (data (i32.const 1152) "GET http://169.254.169.254/latest/meta-data/\n\n")  ;; metadata, 46 bytes
  (data (i32.const 1200) "GET http://crm.example.com/\n\n")  ;; granted, 29 bytes
  (data (i32.const 1232) "Status: 200 OK\nContent-Type: text/plain\n\nevery attempt was refused\n")  ;; ok, 67 bytes
  (data (i32.const 1312) "Status: 500\nContent-Type: text/plain\n\nan attempt was NOT refused\n")  ;; leak, 65 bytes
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
    ;; GET http://evil.example.net/steal: not granted
    (call $expect (call $http_fetch (i32.const 1024) (i32.const 35) (i32.const 32768) (i32.const 16384)) (i32.const -1))
    ;; GET http://127.0.0.1:22/: not granted
    (call $expect (call $http_fetch (i32.const 1072) (i32.const 26) (i32.const 32768) (i32.const 16384)) (i32.const -1))
    ;; GET http://crm.example.com.evil.net/: not granted
    (call $expect (call $http_fetch (i32.const 1104) (i32.const 38) (i32.const 32768) (i32.const 16384)) (i32.const -1))
    ;; GET http://169.254.169.254/latest/meta-data/: not granted
    (call $expect (call $http_fetch (i32.const 1152) (i32.const 46) (i32.const 32768) (i32.const 16384)) (i32.const -1))
    ;; limits.network is 2req/min: the third request to the granted host is refused
    (drop (call $http_fetch (i32.const 1200) (i32.const 29) (i32.const 32768) (i32.const 16384)))
    (drop (call $http_fetch (i32.const 1200) (i32.const 29) (i32.const 32768) (i32.const 16384)))
    (call $expect (call $http_fetch (i32.const 1200) (i32.const 29) (i32.const 32768) (i32.const 16384)) (i32.const -4))
    ;; Every attempt refused: a normal answer. Anything else: exit 1, an exit violation.
    (if (global.get $leaks)
      (then (call $out (i32.const 1312) (i32.const 65)) (call $proc_exit (i32.const 1))))
    (call $out (i32.const 1232) (i32.const 67))
))
