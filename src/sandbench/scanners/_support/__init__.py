"""What the scanners share: readers of module files (Python, WASM, declarations), rules and tools."""
