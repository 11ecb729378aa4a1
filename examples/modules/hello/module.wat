;; hello: the smallest sandbench "command" module, written by hand.
;;
;; ABI: command (a WASI program run once per request, CGI style).
;; It imports exactly one host function, wasi_snapshot_preview1.fd_write, and
;; writes a fixed CGI response to stdout (fd 1). Returning from _start is
;; exit status 0.
(module
  ;; fd_write(fd, iovs_ptr, iovs_len, nwritten_ptr) -> errno
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))

  ;; WASI requires command modules to export their memory as "memory".
  (memory (export "memory") 1)

  ;; Layout of the first page:
  ;;   0..8    one iovec {buf: i32, buf_len: i32}
  ;;   8..12   nwritten (written by fd_write)
  ;;   64..126 the response (62 bytes)
  (data (i32.const 64)
    "Status: 200 OK\nContent-Type: text/plain\n\nhello from sandbench\n")

  (func $main (export "_start")
    (local $ptr i32)
    (local $left i32)
    (local.set $ptr (i32.const 64))
    (local.set $left (i32.const 62))
    ;; fd_write may write fewer bytes than asked: loop until all are out.
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $left)))
        (i32.store (i32.const 0) (local.get $ptr))
        (i32.store (i32.const 4) (local.get $left))
        ;; Any errno, or no progress at all, is fatal: trap rather than
        ;; pretend a half-written response succeeded.
        (if (i32.ne
              (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
              (i32.const 0))
          (then (unreachable)))
        (if (i32.eqz (i32.load (i32.const 8)))
          (then (unreachable)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.load (i32.const 8))))
        (local.set $left (i32.sub (local.get $left) (i32.load (i32.const 8))))
        (br $again)))))
