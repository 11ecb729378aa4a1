;; hostile/spin-start: the module's wasm `start` function loops forever, so the
;; module never finishes instantiating and `_start` is never reached. A host
;; that only guards the `_start` call (and not instantiation) hangs here.
;;
;; Expected sandbench verdict: `cpu` or `timeout` during instantiation.
(module
  (memory (export "memory") 1)
  (func $spin
    (loop $forever
      (br $forever)))
  (start $spin)
  (func (export "_start")
    ;; never reached
    (nop)))
