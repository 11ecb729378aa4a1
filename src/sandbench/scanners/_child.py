"""The child interpreter of `sandbench.scanners.bounded.run_isolated`; nothing else runs it."""

from sandbench.scanners.bounded import child_main

child_main()
