#!/usr/bin/env bash
# Benchmark, not a test: pactor-mktorrent against Debian's mktorrent run once
# per file (how a mirror script would use it), on a tree of at least 2 GB.
#
#   scripts/bench-mktorrent.sh [SIZE_MB] [WORKDIR]
#
# SIZE_MB (default 2200) of random package files in a mix of sizes like a
# real repository (many small, some large, one huge), in WORKDIR (default a
# new directory under /tmp, removed at the end). Both tools get the same
# piece length (pactor's piece_length_for), no creation date, and a warm
# page cache, so they hash the same bytes into the same pieces; the script
# also checks that they produce the same infohashes. mktorrent uses all
# cores itself (-t defaults to the number of CPUs); pactor-mktorrent hashes
# slices of all files on all cores. Prints wall-clock seconds and MB/s; never
# fails on timing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZE_MB="${1:-2200}"
WORK="${2:-}"
BIN="${PACTOR_MKTORRENT:-${CARGO_TARGET_DIR:-$ROOT/target}/release/pactor-mktorrent}"

command -v mktorrent >/dev/null || { echo "error: mktorrent is not installed (./setup.sh deps)" >&2; exit 1; }
[[ -x "$BIN" ]] || { echo "error: $BIN not found: cargo build --release --bin pactor-mktorrent" >&2; exit 1; }

cleanup=0
if [[ -z "$WORK" ]]; then
    WORK="$(mktemp -d /tmp/bench-mktorrent.XXXXXX)"
    cleanup=1
fi
trap '[[ $cleanup == 1 ]] && rm -rf "$WORK"' EXIT
TREE="$WORK/tree/core/os/x86_64"
mkdir -p "$TREE"

# Sizes like a repository: log-uniform from 20 KiB to 50 MiB (mean about
# 6 MiB, as Arch's package sizes spread), plus one 400 MiB package, until
# SIZE_MB is reached. Fixed seed: the same tree every time.
if [[ ! -e "$WORK/.made" ]]; then
    echo ":: making a ${SIZE_MB} MB tree in $WORK"
    awk -v total_mb="$SIZE_MB" 'BEGIN {
        srand(1); t = 400 * 1048576; print t
        while (t < total_mb * 1048576) {
            s = int(exp(log(20480) + rand() * (log(52428800) - log(20480)))); print s; t += s
        }
    }' >"$WORK/sizes"
    n=0
    while read -r size; do
        head -c "$size" /dev/urandom >"$(printf '%s/pkg%04d-1-1-x86_64.pkg.tar.zst' "$TREE" "$n")"
        n=$((n + 1))
    done <"$WORK/sizes"
    touch "$WORK/.made"
fi
files=("$TREE"/*.pkg.tar.zst)
bytes=$(du -cb "${files[@]}" | tail -n1 | cut -f1)
echo ":: ${#files[@]} packages, $((bytes / 1024 / 1024)) MiB, $(nproc) CPUs"

# Warm the page cache so both runs measure hashing, not the disk.
cat "${files[@]}" >/dev/null

# Piece length exponent as pactor chooses it (see piece_length_for):
# smallest power of two >= size/1024, clamped to 2^16..2^24.
exp_for() {
    local size=$1 want e=16
    want=$(( (size + 1023) / 1024 ))
    while (( (1 << e) < want && e < 24 )); do e=$((e + 1)); done
    echo "$e"
}

# Each tool RUNS times (default 3), alternating, best wall time kept; CPU
# time (user + sys) is printed too since a loaded machine skews wall time.
RUNS="${RUNS:-3}"
TIMEFORMAT='%R %U %S'
run_mktorrent() {
    rm -rf "$WORK/out-mktorrent" && mkdir -p "$WORK/out-mktorrent"
    for f in "${files[@]}"; do
        mktorrent -d -l "$(exp_for "$(stat -c %s "$f")")" \
            -o "$WORK/out-mktorrent/$(basename "$f").torrent" "$f" >/dev/null
    done
}
run_pactor() {
    rm -rf "$WORK/out-pactor"
    "$BIN" --quiet --noprogressbar --out "$WORK/out-pactor" "$WORK/tree"
}
# exp_for and stat run in the mktorrent loop: time them alone and take them
# off (wall and CPU), so that only mktorrent is measured.
run_exp_only() { for f in "${files[@]}"; do exp_for "$(stat -c %s "$f")" >/dev/null; done; }
best() { sort -n | head -n1; }
: >"$WORK/t-mk"; : >"$WORK/t-pa"; : >"$WORK/t-exp"
for ((i = 0; i < RUNS; i++)); do
    { time run_mktorrent; } 2>>"$WORK/t-mk"
    { time run_pactor; } 2>>"$WORK/t-pa"
    { time run_exp_only; } 2>>"$WORK/t-exp"
done
exp_wall=$(awk '{print $1}' "$WORK/t-exp" | best)
mk=$(awk -v e="$exp_wall" '{print $1 - e}' "$WORK/t-mk" | best)
pa=$(awk '{print $1}' "$WORK/t-pa" | best)
exp_cpu=$(awk '{print $2 + $3}' "$WORK/t-exp" | best)
mk_cpu=$(awk -v e="$exp_cpu" '{print $2 + $3 - e}' "$WORK/t-mk" | best)
pa_cpu=$(awk '{print $2 + $3}' "$WORK/t-pa" | best)
mbps() { echo "scale=0; $bytes / 1048576 / $1" | bc -l; }
echo ":: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf ':: mktorrent (once per file): %6.2f s wall  %5s MiB/s  (cpu %.2f s)\n' "$mk" "$(mbps "$mk")" "$mk_cpu"
printf ':: pactor-mktorrent:          %6.2f s wall  %5s MiB/s  (cpu %.2f s)\n' "$pa" "$(mbps "$pa")" "$pa_cpu"
printf ':: speed-up (wall): %.2fx, best of %d runs each\n' "$(echo "$mk / $pa" | bc -l)" "$RUNS"

# Same bytes, same pieces: the infohashes must agree.
mismatch=0
for f in "${files[@]}"; do
    name=$(basename "$f")
    a=$(transmission-show "$WORK/out-mktorrent/$name.torrent" 2>/dev/null | awk '/^  Hash:/{print $2}')
    b=$(transmission-show "$WORK/out-pactor/core/os/x86_64/$name.torrent" 2>/dev/null | awk '/^  Hash:/{print $2}')
    [[ "$a" == "$b" ]] || { echo "infohash differs for $name: $a vs $b" >&2; mismatch=1; }
done
((mismatch == 0)) && echo ":: infohashes identical for all ${#files[@]} packages"
exit "$mismatch"
