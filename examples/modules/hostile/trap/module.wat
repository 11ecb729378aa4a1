;; hostile/trap: `_start` executes `unreachable`.
;;
;; Expected sandbench verdict: `trap` (wasm trap code: unreachable).
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (unreachable)))
