;; hostile/unknown-import: imports a function from a module that is not
;; wasi_snapshot_preview1 and calls it from `_start`.
;;
;; Expected sandbench verdict: `unknown-import` naming env.launch_missiles, at
;; load time: the module never runs.
(module
  (import "env" "launch_missiles" (func $launch_missiles))
  (memory (export "memory") 1)
  (func (export "_start")
    (call $launch_missiles)))
