#!/usr/bin/env bash
# Builds the vendas example from src/ into two commit-ready modules:
#   vendas/module.wasm          command ABI (main_command.c + pricing.c)
#   vendas-reactor/module.wasm  reactor ABI (main_reactor.c + pricing.c)
#
# Needs clang with the wasm32-wasi target. On Debian/Ubuntu:
#   apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32
# (use the libclang-rt-NN-dev-wasm32 matching your clang major version).
#
# The output is reproducible: the same compiler gives the same bytes (no
# debug info, names stripped, sources compiled by relative path).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

CC="${CC:-clang}"
TARGET="wasm32-wasi"
CFLAGS=(--target="$TARGET" -O2 -std=c11 -Wall -Wextra -Wpedantic -Werror
        -fno-ident)
LDFLAGS=(-Wl,--strip-all)

missing_toolchain() {
    echo "error: $1" >&2
    echo "  vendas needs clang with the $TARGET target, wasm-ld and wasi-libc." >&2
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

srcs_common=(src/pricing.c)

echo "building vendas/module.wasm (command)"
"$CC" "${CFLAGS[@]}" "${LDFLAGS[@]}" \
    src/main_command.c "${srcs_common[@]}" -o "$tmp/command.wasm"

echo "building vendas-reactor/module.wasm (reactor)"
"$CC" "${CFLAGS[@]}" -mexec-model=reactor "${LDFLAGS[@]}" \
    -Wl,--export=sandbench_alloc -Wl,--export=sandbench_handle \
    src/main_reactor.c "${srcs_common[@]}" -o "$tmp/reactor.wasm"

# Install only once both builds succeeded.
install -m 0644 "$tmp/command.wasm" "$here/module.wasm"
install -m 0644 "$tmp/reactor.wasm" "$here/../vendas-reactor/module.wasm"

if command -v sha256sum >/dev/null 2>&1; then
    (cd "$here/.." && sha256sum vendas/module.wasm vendas-reactor/module.wasm)
fi
