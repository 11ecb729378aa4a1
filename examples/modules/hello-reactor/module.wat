;; hello-reactor: the smallest sandbench "reactor" module, written by hand.
;;
;; ABI: reactor (one instance serves many sequential calls). No imports at all.
;; Exports:
;;   memory                            the linear memory
;;   sandbench_alloc(size i32) -> i32  a buffer for the next request, 0 if it
;;                                     cannot be had
;;   sandbench_handle(ptr i32, len i32) -> i64
;;                                     (out_ptr << 32) | out_len of the response
;;
;; The allocator is a bump allocator that is reset on every call: the host
;; allocates one request buffer, then calls sandbench_handle, so only one
;; request buffer is ever live. The request itself is ignored; the response is
;; a static CGI response in a data segment.
(module
  ;; One page to start with; sandbench_alloc grows it when a request is larger
  ;; (the host's store limit decides how far, memory.grow returns -1 past it).
  (memory (export "memory") 1)

  ;; 0..1024: static data. The response is 62 bytes at offset 64.
  (data (i32.const 64)
    "Status: 200 OK\nContent-Type: text/plain\n\nhello from a reactor\n")

  ;; Request buffers start at 1024 (after the static data).
  (global $heap_base i32 (i32.const 1024))

  (func (export "sandbench_alloc") (param $size i32) (result i32)
    (local $end i64)
    (local $have i64)
    ;; A negative size is nonsense: refuse it.
    (if (i32.lt_s (local.get $size) (i32.const 0))
      (then (return (i32.const 0))))
    ;; end = heap_base + size, in 64 bits so it cannot wrap.
    (local.set $end
      (i64.add (i64.extend_i32_u (global.get $heap_base))
               (i64.extend_i32_u (local.get $size))))
    (local.set $have
      (i64.mul (i64.extend_i32_u (memory.size)) (i64.const 65536)))
    (if (i64.gt_u (local.get $end) (local.get $have))
      (then
        ;; Grow by ceil((end - have) / 64 KiB) pages; 0 if the host says no.
        (if (i32.eq
              (memory.grow
                (i32.wrap_i64
                  (i64.div_u
                    (i64.add (i64.sub (local.get $end) (local.get $have))
                             (i64.const 65535))
                    (i64.const 65536))))
              (i32.const -1))
          (then (return (i32.const 0))))))
    ;; Reset per call: every request reuses the same region.
    (global.get $heap_base))

  (func (export "sandbench_handle") (param $ptr i32) (param $len i32) (result i64)
    ;; (64 << 32) | 62
    (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const 62))))
