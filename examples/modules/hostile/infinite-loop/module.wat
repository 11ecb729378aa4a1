;; hostile/infinite-loop: `_start` branches back to itself forever.
;; No imports, no memory traffic: it only burns instructions.
;;
;; Expected sandbench verdict: `cpu` (fuel runs out first at cpu 250m / 1s:
;; 5 * 10^8 fuel), otherwise `timeout` (epoch deadline).
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $forever
      (br $forever))))
