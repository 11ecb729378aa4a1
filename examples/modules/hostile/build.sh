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

CC="${CC:-clang}"
TARGET="wasm32-wasi"
CFLAGS=(--target="$TARGET" -O2 -std=c11 -Wall -Wextra -Wpedantic -Werror
        -fno-ident)
LDFLAGS=(-Wl,--strip-all)
MODULES=(memory-bomb output-flood read-outside exit-code)

missing_toolchain() {
    echo "error: $1" >&2
    echo "  the hostile examples need clang with the $TARGET target, wasm-ld and wasi-libc." >&2
    echo "  On Debian/Ubuntu install them with:" >&2
    echo "    sudo apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32" >&2
    echo "  (libclang-rt-NN-dev-wasm32 must match 'clang --version'; or set CC)." >&2
    exit 1
}

command -v "$CC" >/dev/null 2>&1 || missing_toolchain "'$CC' not found"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Probe: compile and link a trivial program for the target. This fails when
# the wasm32 backend, wasm-ld, wasi-libc or the wasm32 compiler-rt is absent.
printf 'int main(void) { return 0; }\n' >"$tmp/probe.c"
if ! "$CC" --target="$TARGET" -O2 "$tmp/probe.c" -o "$tmp/probe.wasm" \
        >"$tmp/probe.log" 2>&1; then
    sed 's/^/  | /' "$tmp/probe.log" >&2
    missing_toolchain "'$CC --target=$TARGET' cannot build a WASI program"
fi

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
