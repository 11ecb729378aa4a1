# Sourced by the example build scripts: the WASI C toolchain, its flags, and a probe that
# says which Debian packages to install when it is missing. Sets CC, TARGET, CFLAGS,
# LDFLAGS and tmp (a scratch folder removed on exit). The caller sets WHAT first.
CC="${CC:-clang}"
TARGET="wasm32-wasi"
CFLAGS=(--target="$TARGET" -O2 -std=c11 -Wall -Wextra -Wpedantic -Werror
        -fno-ident)
LDFLAGS=(-Wl,--strip-all)

missing_toolchain() {
    echo "error: $1" >&2
    echo "  $WHAT: clang with the $TARGET target, wasm-ld and wasi-libc." >&2
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
