;; hostile/stack-overflow: unbounded, non-tail recursion on the wasm call
;; stack. The result of each call is used after it returns, so no call can be
;; turned into a loop (and core wasm has no implicit tail calls anyway).
;;
;; Written in WAT on purpose: a C recursion compiled by clang for wasm32 first
;; overruns the *shadow* stack in linear memory (local arrays live there), which
;; silently corrupts data below it instead of trapping.
;;
;; Expected sandbench verdict: a trap, "call stack exhausted" (wasmtime's
;; stack-overflow trap).
(module
  (memory (export "memory") 1)
  (func $deeper (param $n i32) (result i32)
    (i32.add
      (call $deeper (i32.add (local.get $n) (i32.const 1)))
      (i32.const 1)))
  (func (export "_start")
    (drop (call $deeper (i32.const 0)))))
