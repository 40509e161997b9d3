#!/usr/bin/env bash
# Run pacman's own test suite (pactest) against the reference pacman, against
# pactor, and against pactor with `-x` added to every -S/-U call; report the
# parity gap: tests the reference pacman passes and pactor fails.
#
#   scripts/pactest.sh [--pactor BIN] [--pacman BIN] [--only RUN]... [-j N]
#                      [--keep] [--timeout SECS] [TEST...]
#
#   RUN      pacman | pactor | pactor-x (repeatable, or comma-separated);
#            default: all three
#   TEST     sync001, sync001.py or tests/sync001.py; default: every test in
#            pactest's meson.build (the list pacman's own `meson test` runs)
#   -j N     parallel pactest processes (default: number of CPUs); pactest has
#            no -j of its own, so the test list is split into N shards
#   --user U run pactest as user U (fakechroot + fakeroot, the way pacman's
#            developers run it) or as `root`; default when started as root:
#            `nobody` if it can reach the suite and the binaries, else root.
#            As root, pactest chroots scriptlets and hooks into a root without
#            libraries, so ~19 of those tests fail even for pacman.
#   --keep   keep the work directory (TAP logs, wrappers) and pass --keep-root
#            to pactest (useful with a single TEST)
#
# Exit status: 0 when both gaps are empty, 1 when pactor (plain or -x) fails a
# test the reference pacman passes, 2 on usage or set-up errors.
#
# When the reference run is not selected, the last saved reference results
# (written by every full reference run) are used as the baseline.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

die() { printf 'pactest.sh: error: %s\n' "$*" >&2; exit 2; }
log() { printf '==> %s\n' "$*" >&2; }

pactor_bin=""
pacman_bin=""
runs=()
jobs="$(nproc 2>/dev/null || echo 2)"
keep=0
per_call_timeout=120
run_user=auto
tests=()

while (($#)); do
    case "$1" in
        --pactor) pactor_bin="${2:?--pactor needs a path}"; shift 2 ;;
        --pactor=*) pactor_bin="${1#*=}"; shift ;;
        --pacman) pacman_bin="${2:?--pacman needs a path}"; shift 2 ;;
        --pacman=*) pacman_bin="${1#*=}"; shift ;;
        --only) IFS=, read -ra r <<<"${2:?--only needs a run name}"; runs+=("${r[@]}"); shift 2 ;;
        --only=*) IFS=, read -ra r <<<"${1#*=}"; runs+=("${r[@]}"); shift ;;
        -j) jobs="${2:?-j needs a number}"; shift 2 ;;
        -j*) jobs="${1#-j}"; shift ;;
        --keep) keep=1; shift ;;
        --user) run_user="${2:?--user needs a name}"; shift 2 ;;
        --user=*) run_user="${1#*=}"; shift ;;
        --timeout) per_call_timeout="${2:?--timeout needs seconds}"; shift 2 ;;
        -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --) shift; tests+=("$@"); break ;;
        -*) die "unknown option '$1' (see --help)" ;;
        *) tests+=("$1"); shift ;;
    esac
done
((${#runs[@]})) || runs=(pacman pactor pactor-x)
for r in "${runs[@]}"; do
    case "$r" in pacman | pactor | pactor-x) ;; *) die "unknown run '$r' (pacman, pactor, pactor-x)" ;; esac
done
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "-j wants a positive number"

want() { local r; for r in "${runs[@]}"; do [[ "$r" == "$1" ]] && return 0; done; return 1; }

# --- where things are -------------------------------------------------------

# The alpm-sys crate ships pacman's source, test suite included; setup.sh copies
# the suite next to the locally built prefix. On Arch (system libalpm) it is
# taken straight from the cargo registry.
find_pactest_dir() {
    local d
    for d in "${PACTEST_DIR:-}" \
        "${PACTOR_ALPM_PREFIX:+$PACTOR_ALPM_PREFIX/share/pactest}" \
        "$ROOT"/.deps/pacman-*/share/pactest; do
        [[ -n "$d" && -f "$d/pactest.py" && -f "$d/meson.build" ]] && { echo "$d"; return; }
    done
    for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/alpm-sys-5.0.1/pacman/test/pacman; do
        [[ -f "$d/pactest.py" ]] && { echo "$d"; return; }
    done
    if command -v cargo >/dev/null; then
        (cd "$ROOT" && cargo fetch --locked >/dev/null 2>&1) || true
        for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/alpm-sys-5.0.1/pacman/test/pacman; do
            [[ -f "$d/pactest.py" ]] && { echo "$d"; return; }
        done
    fi
    return 1
}

PACTEST_DIR="$(find_pactest_dir)" || die "pactest not found: run ./setup.sh deps (or set PACTEST_DIR)"

if [[ -z "$pacman_bin" ]]; then
    for c in "${PACTOR_ALPM_PREFIX:+$PACTOR_ALPM_PREFIX/bin/pacman}" "$ROOT"/.deps/pacman-*/bin/pacman /usr/bin/pacman; do
        [[ -n "$c" && -x "$c" ]] && { pacman_bin="$c"; break; }
    done
fi
if want pacman; then
    [[ -n "$pacman_bin" && -x "$pacman_bin" ]] || die "reference pacman not found: run ./setup.sh deps or pass --pacman"
fi
if [[ -z "$pactor_bin" ]]; then
    for c in "$TARGET_DIR/release/pactor" "$TARGET_DIR/debug/pactor"; do
        [[ -x "$c" ]] && { pactor_bin="$c"; break; }
    done
fi
pactor_missing=0
if want pactor || want pactor-x; then
    if [[ -z "$pactor_bin" || ! -x "$pactor_bin" ]]; then
        printf 'pactest.sh: warning: pactor binary not found (%s): every pactor test counts as failed\n' \
            "${pactor_bin:-$TARGET_DIR/release/pactor}" >&2
        pactor_missing=1
        pactor_bin="${pactor_bin:-$TARGET_DIR/release/pactor}"
    fi
    pactor_bin="$(realpath -m "$pactor_bin")"
fi
# pactest looks up helper binaries (none today, but pacman's meson passes it)
# in --bindir; the reference prefix's bin is the right one for every run.
bindir="$(dirname "${pacman_bin:-/usr/bin/pacman}")"

# --- the test list ----------------------------------------------------------

all_tests() {
    # The `pacman_tests = [ ... ]` array only; `xfail_tests` below it names some
    # tests again.
    sed -n '/^pacman_tests = \[/,/^\]/p' "$PACTEST_DIR/meson.build" | grep -o "'tests/[^']*\.py'" | tr -d "'"
}

if ((${#tests[@]})); then
    resolved=()
    for t in "${tests[@]}"; do
        t="${t#tests/}"; t="${t%.py}"
        [[ -f "$PACTEST_DIR/tests/$t.py" ]] || die "no such pactest test: $t"
        resolved+=("tests/$t.py")
    done
    tests=("${resolved[@]}")
    full_list=0
else
    mapfile -t tests < <(all_tests)
    ((${#tests[@]})) || die "no tests found in $PACTEST_DIR/meson.build"
    full_list=1
fi

# --- work directory and wrappers -------------------------------------------

WORK="$(mktemp -d "${TMPDIR:-/tmp}/pactor-pactest.XXXXXX")"
chmod 755 "$WORK"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
    if ((keep)); then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# pactest runs its binary with the environment {'LC_ALL': 'C'} only, so each
# wrapper names its interpreter and every program by absolute path. All three
# runs go through the same kind of wrapper (a per-call timeout, so one hanging
# call fails its test instead of the whole shard), which keeps them comparable.
TIMEOUT_BIN="$(command -v timeout)" || die "coreutils timeout not found"

write_wrapper() { # name binary inject_x
    local w="$WORK/bin/$1"
    mkdir -p "$WORK/bin"
    {
        echo '#!/bin/sh'
        echo "# generated by scripts/pactest.sh for the '$1' run"
        if [[ "$3" == 1 ]]; then
            # Add -x when the arguments hold a sync or upgrade operation. pactest
            # puts --noconfirm/--config/--root... before the operation, and a few
            # tests pass `-S -- target`, so -x goes in just before the first `--`
            # (or at the end). In short-option clusters, `b` and `r` take a value
            # (-b/path, -r/path): S or U after them are part of the value.
            cat <<'SH'
op=0
for a do
    case "$a" in
        --) break ;;
        --sync | --upgrade) op=1 ;;
        --*) ;;
        -*) c="${a#-}"; c="${c%%[br]*}"
            case "$c" in *[SU]*) op=1 ;; esac ;;
    esac
done
if [ "$op" = 1 ]; then
    n=$#; done_x=0
    for a do
        if [ "$done_x" = 0 ] && [ "$a" = "--" ]; then set -- "$@" -x; done_x=1; fi
        set -- "$@" "$a"
    done
    shift "$n"
    [ "$done_x" = 1 ] || set -- "$@" -x
fi
SH
        fi
        printf 'exec %q --foreground -k 5 %q %q "$@"\n' "$TIMEOUT_BIN" "$per_call_timeout" "$2"
    } >"$w"
    chmod 755 "$w"
}

declare -A bin_of=([pacman]="$pacman_bin" [pactor]="$pactor_bin" [pactor-x]="$pactor_bin")
declare -A inject_of=([pacman]=0 [pactor]=0 [pactor-x]=1)
for r in "${runs[@]}"; do write_wrapper "$r" "${bin_of[$r]}" "${inject_of[$r]}"; done

# --- who runs pactest -------------------------------------------------------

PYTHON="$(command -v python3)" || die "python3 not found"
as_user=()
mode="as $(id -un)"
if [[ $EUID -eq 0 && "$run_user" != root ]]; then
    u="$run_user"; [[ "$u" == auto ]] && u=nobody
    reason=""
    py=/usr/bin/python3; [[ -x "$py" ]] || py="$PYTHON"
    if ! id "$u" >/dev/null 2>&1; then reason="no user $u"
    elif ! command -v fakechroot >/dev/null || ! command -v fakeroot >/dev/null; then reason="fakechroot/fakeroot missing"
    elif ! command -v setpriv >/dev/null; then reason="setpriv missing"
    else
        probe=(setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups)
        for f in "$py" "$TIMEOUT_BIN" "$WORK/bin/${runs[0]}"; do
            "${probe[@]}" test -x "$f" || { reason="$u cannot run $f"; break; }
        done
        for r in "${runs[@]}"; do
            [[ -z "$reason" && -e "${bin_of[$r]}" ]] || continue
            "${probe[@]}" test -x "${bin_of[$r]}" || reason="$u cannot run ${bin_of[$r]}"
        done
        [[ -n "$reason" ]] || "${probe[@]}" test -r "$PACTEST_DIR/pactest.py" || reason="$u cannot read $PACTEST_DIR"
    fi
    if [[ -z "$reason" ]]; then
        as_user=("${probe[@]}")
        PYTHON="$py"
        mode="as $u under fakechroot + fakeroot"
    elif [[ "$run_user" != auto ]]; then
        die "cannot run pactest as $u: $reason"
    else
        mode="as root ($reason; scriptlet/hook tests fail even for pacman)"
    fi
fi

# --- run the shards ---------------------------------------------------------

nshards="$jobs"
((nshards > ${#tests[@]})) && nshards=${#tests[@]}
# A shard of ~170 tests takes ~10 s with pacman; the bound only stops a run
# whose binary hangs in a way the per-call timeout does not catch.
shard_timeout=$((60 + ${#tests[@]} * 20))

job_list=()
for r in "${runs[@]}"; do
    mkdir -p "$WORK/$r"
    for ((s = 0; s < nshards; s++)); do
        : >"$WORK/$r/shard$s.list"
        for ((i = s; i < ${#tests[@]}; i += nshards)); do echo "${tests[i]}" >>"$WORK/$r/shard$s.list"; done
        job_list+=("$r/shard$s")
    done
done

run_shard() { # run/shardN
    local r="${1%%/*}" tmp="$WORK/$1.tmp" list
    mkdir -p "$tmp"
    ((${#as_user[@]})) && chown "${as_user[1]#--reuid=}" "$tmp"
    mapfile -t list <"$WORK/$1.list"
    if [[ "$r" != pacman ]] && ((pactor_missing)); then
        : >"$WORK/$1.tap"
        return 0
    fi
    local keep_root=()
    ((keep)) && keep_root=(--keep-root)
    (
        cd "$PACTEST_DIR"
        # pactest.py puts its root under $TMPDIR (mkdtemp): one per shard.
        TMPDIR="$tmp" PYTHONDONTWRITEBYTECODE=1 exec "${as_user[@]}" "$TIMEOUT_BIN" -k 10 "$shard_timeout" \
            "$PYTHON" pactest.py --verbose --pacman="$WORK/bin/$r" --bindir="$bindir" \
            --scriptlet-shell=/bin/sh --ldconfig=/sbin/ldconfig "${keep_root[@]}" "${list[@]}"
    ) >"$WORK/$1.tap" 2>&1 </dev/null || true
}

log "pactest: ${#tests[@]} tests x ${#runs[@]} run(s) (${runs[*]}), $nshards shard(s) each, $jobs at a time"
log "reference pacman: ${pacman_bin:-none}; pactor: ${pactor_bin:-none}; suite: $PACTEST_DIR"
log "running pactest $mode"
start=$SECONDS
running=0
for j in "${job_list[@]}"; do
    if ((running >= jobs)); then wait -n || true; running=$((running - 1)); fi
    set -m
    run_shard "$j" &
    set +m
    pids+=($!)
    running=$((running + 1))
done
wait || true
pids=()
log "pactest finished in $((SECONDS - start)) s"

# --- results ----------------------------------------------------------------

BASELINE="$TARGET_DIR/pactest/pacman.results"
args=("$WORK" "$nshards" "$BASELINE" "$full_list" "$pactor_missing" "${runs[@]}")
rc=0
python3 - "${args[@]}" <<'PY' || rc=$?
import os, re, sys

work, nshards, baseline, full_list, pactor_missing = sys.argv[1:6]
runs = sys.argv[6:]
nshards = int(nshards)

PLAN = re.compile(r"^1\.\.(\d+)")
RESULT = re.compile(r"^(not )?ok \d+ - (.*?)(\s+# TODO)?$")
RUNNING = re.compile(r"^# Running '(.*)'$")


def parse_shard(tap_path, tests):
    """Map pactest's TAP stream onto test names: every test file prints exactly
    one top-level plan line (`1..1`, or `1..0 # skipping` for a skipped test)
    followed by one top-level result line."""
    status = {}
    idx = -1
    try:
        lines = open(tap_path, errors="replace").read().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        m = PLAN.match(line)
        if m:
            idx += 1
            if idx < len(tests) and m.group(1) == "0":
                status[tests[idx]] = "skip"
            continue
        m = RUNNING.match(line)
        if m and 0 <= idx < len(tests):
            name = os.path.basename(tests[idx])[:-3]
            if m.group(1) != name:
                print(f"warning: TAP out of step in {tap_path}: {m.group(1)} vs {name}", file=sys.stderr)
            continue
        m = RESULT.match(line)
        if m and 0 <= idx < len(tests):
            ok = m.group(1) is None
            todo = m.group(3) is not None
            status[tests[idx]] = ("xpass" if ok else "xfail") if todo else ("ok" if ok else "fail")
    for t in tests:
        status.setdefault(t, "missing")  # no result: crashed, bailed out or timed out
    return status


results = {}
order = []
for r in runs:
    st = {}
    for s in range(nshards):
        tests = open(os.path.join(work, r, f"shard{s}.list")).read().split()
        if s == 0 and not order:
            pass
        st.update(parse_shard(os.path.join(work, r, f"shard{s}.tap"), tests))
    results[r] = st
all_tests = sorted({t for st in results.values() for t in st})

passing = ("ok", "xpass")
name = lambda t: os.path.basename(t)[:-3]


def summary(r):
    st = results[r]
    n_pass = sum(1 for v in st.values() if v in passing)
    n_fail = len(st) - n_pass - sum(1 for v in st.values() if v == "skip")
    extra = []
    xf = sum(1 for v in st.values() if v == "xfail")
    if xf:
        extra.append(f"{xf} expected (TODO)")
    miss = sum(1 for v in st.values() if v == "missing")
    if miss:
        extra.append(f"{miss} without a result")
    sk = sum(1 for v in st.values() if v == "skip")
    tail = f" ({', '.join(extra)})" if extra else ""
    tail += f", {sk} skipped" if sk else ""
    label = {"pacman": "pacman  ", "pactor": "pactor  ", "pactor-x": "pactor -x"}[r]
    note = " [binary missing]" if r != "pacman" and pactor_missing == "1" else ""
    print(f"{label}: {n_pass} passed, {n_fail} failed{tail}{note}")


print()
for r in runs:
    summary(r)

# Baseline: this run's reference results, else the last saved full reference run.
base = results.get("pacman")
base_src = "this run"
if base is not None and full_list == "1":
    os.makedirs(os.path.dirname(baseline), exist_ok=True)
    with open(baseline + ".new", "w") as f:
        for t in sorted(base):
            f.write(f"{t} {base[t]}\n")
    os.replace(baseline + ".new", baseline)
if base is None and os.path.exists(baseline):
    base = dict(line.split() for line in open(baseline) if line.strip())
    base_src = baseline
if base is None:
    print("\nno reference results (run with the 'pacman' run once): the gap counts every failure")
    base = {t: "ok" for t in all_tests}
    base_src = "none"

gap_total = 0
for r in ("pactor", "pactor-x"):
    if r not in results:
        continue
    st = results[r]
    gap = [t for t in sorted(st) if base.get(t) in passing and st[t] not in passing and st[t] != "skip"]
    better = [t for t in sorted(st) if st[t] in passing and base.get(t) not in passing and t in base]
    flag = " -x" if r == "pactor-x" else ""
    print(f"\nparity gap, pactor{flag} vs pacman (baseline: {base_src}): {len(gap)} test(s)")
    for t in gap:
        print(f"  {name(t)} ({st[t]})")
    if better:
        print(f"pactor{flag} passes {len(better)} test(s) the reference fails: {' '.join(name(t) for t in better)}")
    gap_total += len(gap)

if "pacman" in results:
    bad = [name(t) for t in sorted(results["pacman"]) if results["pacman"][t] in ("fail", "missing")]
    if bad:
        print(f"\nreference pacman fails {len(bad)} test(s) on this machine (not counted): {' '.join(bad)}")

sys.exit(1 if gap_total else 0)
PY
if ((rc != 0 && rc != 1)); then
    die "result parser failed (rc=$rc); TAP logs in $WORK"
fi
if ((rc == 1)); then
    printf '\npactest parity: FAILED (rerun one test with: scripts/pactest.sh --only pactor --keep TEST; TAP logs with -v under the work dir)\n'
    ((keep)) || printf '(pass --keep to keep the TAP logs)\n'
    exit 1
fi
printf '\npactest parity: OK\n'
