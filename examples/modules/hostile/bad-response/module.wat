;; hostile/bad-response: exits 0 after printing plain text with no header
;; block and no empty line. sandbench never guesses where headers end.
;;
;; Expected sandbench verdict: `protocol` (no empty line ends the headers).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0..8 iovec, 8..12 nwritten, text at 64 (48 bytes)
  (data (i32.const 64) "this is not a CGI response\nno headers, no blank\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 48))
    ;; A short write would only make the output more wrong; ignore the result.
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
