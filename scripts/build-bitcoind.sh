#!/usr/bin/env bash
# Builds the test bitcoind and bitcoin-cli from the Bitcoin Core source tree shipped inside the
# `libbitcoinkernel-sys` crate (no binary can be downloaded here), once, into a cache outside the
# repository. Prints the directory holding the two binaries.
#
# Honours BITCOIND / BITCOIN_CLI when both are set (nothing is built then).
# Cache: $FERRUM_CACHE (default ~/.cache/ferrum)/bitcoin-core-kernel-sys-<version>/bin
# Concurrent runs (e.g. two clones testing at once) wait for each other through a lock file.
# The compiler output goes to $FERRUM_CACHE/build-bitcoind/build.log; its tail is shown on failure.
set -euo pipefail

if [[ -n "${BITCOIND:-}" && -n "${BITCOIN_CLI:-}" ]]; then
    dirname "$BITCOIND"
    exit 0
fi

CRATE_VERSION=0.4.1
CACHE="${FERRUM_CACHE:-$HOME/.cache/ferrum}"
OUT="$CACHE/bitcoin-core-kernel-sys-$CRATE_VERSION"
if [[ -x "$OUT/bin/bitcoind" && -x "$OUT/bin/bitcoin-cli" ]]; then
    echo "$OUT/bin"
    exit 0
fi

log() { echo "build-bitcoind: $*" >&2; }

# One build at a time; whoever waited finds the binaries built by the other.
mkdir -p "$CACHE"
exec 9>"$CACHE/build-bitcoind.lock"
if ! flock -n 9; then
    log "another build is running; waiting for it"
    flock 9
fi
if [[ -x "$OUT/bin/bitcoind" && -x "$OUT/bin/bitcoin-cli" ]]; then
    echo "$OUT/bin"
    exit 0
fi
for tool in cmake make c++; do
    command -v "$tool" >/dev/null || { log "missing $tool (apt-get install cmake g++ libboost-dev libevent-dev)"; exit 1; }
done

# Fetch the crate source through cargo (crates.io is reachable; no other download is).
WORK="$CACHE/build-bitcoind"
mkdir -p "$WORK/fetch/src"
cat > "$WORK/fetch/Cargo.toml" <<TOML
[package]
name = "fetch-bitcoin-core"
version = "0.0.0"
edition = "2021"
[dependencies]
libbitcoinkernel-sys = "=$CRATE_VERSION"
TOML
echo "fn main() {}" > "$WORK/fetch/src/main.rs"
log "fetching libbitcoinkernel-sys $CRATE_VERSION source"
(cd "$WORK/fetch" && cargo fetch -q >&2)
REGISTRY="${CARGO_HOME:-$HOME/.cargo}/registry/src"
SRC=$(find "$REGISTRY" -maxdepth 2 -type d -name "libbitcoinkernel-sys-$CRATE_VERSION" | head -n 1)
[[ -n "$SRC" && -f "$SRC/bitcoin/CMakeLists.txt" ]] || { log "crate source not found under $REGISTRY"; exit 1; }

BUILD_LOG="$WORK/build.log"
: >"$BUILD_LOG"
run_logged() {
    if ! "$@" >>"$BUILD_LOG" 2>&1; then
        log "failed: $* (last lines of $BUILD_LOG follow)"
        tail -n 60 "$BUILD_LOG" >&2
        exit 1
    fi
}
log "configuring Bitcoin Core from $SRC/bitcoin (log: $BUILD_LOG)"
rm -rf "$WORK/build"
run_logged cmake -S "$SRC/bitcoin" -B "$WORK/build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DENABLE_WALLET=OFF -DWITH_ZMQ=OFF -DENABLE_IPC=OFF -DWITH_EMBEDDED_ASMAP=OFF \
    -DBUILD_TESTS=OFF -DBUILD_BENCH=OFF -DBUILD_KERNEL_LIB=OFF -DBUILD_FUZZ_BINARY=OFF \
    -DBUILD_GUI=OFF -DBUILD_DAEMON=ON -DBUILD_CLI=ON -DBUILD_TX=OFF -DBUILD_UTIL=OFF \
    -DBUILD_WALLET_TOOL=OFF
log "compiling bitcoind and bitcoin-cli (~10-15 minutes on 2 cores)"
started=$SECONDS
run_logged cmake --build "$WORK/build" -j "$(nproc)" --target bitcoind bitcoin-cli
log "compiled in $((SECONDS - started)) s"
mkdir -p "$OUT/bin.tmp"
cp "$(find "$WORK/build" -type f -name bitcoind -perm -u+x | head -n 1)" "$OUT/bin.tmp/bitcoind"
cp "$(find "$WORK/build" -type f -name bitcoin-cli -perm -u+x | head -n 1)" "$OUT/bin.tmp/bitcoin-cli"
strip "$OUT/bin.tmp/bitcoind" "$OUT/bin.tmp/bitcoin-cli" || true
rm -rf "$OUT/bin" && mv "$OUT/bin.tmp" "$OUT/bin"
rm -rf "$WORK/build"
log "built $OUT/bin/bitcoind"
echo "$OUT/bin"
