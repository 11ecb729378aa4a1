#!/usr/bin/env bash
# Builds the hostile C examples into commit-ready modules:
#   memory-bomb/module.wasm  output-flood/module.wasm
#   read-outside/module.wasm exit-code/module.wasm
# (The other hostile modules are WAT text files and need no build.)
#
# Needs clang with the wasm32-wasi target. On Debian/Ubuntu:
#   apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32
# (use the libclang-rt-NN-dev-wasm32 matching your clang major version).
#
# The output is reproducible: the same compiler gives the same bytes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

WHAT="the hostile examples need"
MODULES=(memory-bomb output-flood read-outside exit-code)
# shellcheck source=../toolchain.sh
source "$here/../toolchain.sh"

for m in "${MODULES[@]}"; do
    echo "building hostile/$m/module.wasm"
    "$CC" "${CFLAGS[@]}" "${LDFLAGS[@]}" "$m/main.c" -o "$tmp/$m.wasm"
done

# Install only once every build succeeded.
for m in "${MODULES[@]}"; do
    install -m 0644 "$tmp/$m.wasm" "$here/$m/module.wasm"
done

if command -v sha256sum >/dev/null 2>&1; then
    for m in "${MODULES[@]}"; do
        sha256sum "$m/module.wasm"
    done
fi
