"""The child interpreter of `sandbench.scanners._support.bounded.run_isolated`; nothing else runs it."""

from sandbench.scanners._support.bounded import child_main

child_main()
