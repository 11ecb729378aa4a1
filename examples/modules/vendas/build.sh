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

WHAT="vendas needs"
# shellcheck source=../toolchain.sh
source "$here/../toolchain.sh"

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
