#!/usr/bin/env bash
# pactor -x benchmark: pactor -Sxw, the reference pacman -Sw (ParallelDownloads
# = 5) and aria2c (every mirror of a file on one line) side by side, on the same
# four local mirrors, each in its own network namespace behind a veth shaped
# with tc (tbf total rate + netem 30 ms delay; where the kernel has no netem,
# a delay line in the mirror's namespace, scripts/bench/delay.py, holds what
# it sends 30 ms instead; PACTOR_BENCH_DELAY_LINE=0: no delay). A benchmark,
# not a test: it prints numbers and never fails on them. Needs root (ip netns,
# tc), nginx, aria2c, python3, bsdtar, zstd, repo-add and GNU time.
#
#   scripts/bench-x.sh [--quick] [--runs N] [--keep] [SCENARIO...]
#
#   healthy      mirrors capped at 20/10/5/5 MB/s (total, per mirror)
#   slow-first   the first mirror at 1 MB/s
#   stall-first  the first mirror stops sending after 1 MiB of each response
#   small300     300 packages of 20-200 KiB, healthy mirrors
#   fast         8 packages of 24-48 MiB, mirrors at 25 MB/s each (100 MB/s
#                in all) and no added delay: the CPU and memory each tool
#                needs at 100 MB/s
#   swarm        three seeders (transmission-daemon, 2 x aria2c) at 4 MB/s
#                upload each, opentracker, mirrors at 1/0.5/0.25/0.25 MB/s;
#                aria2c gets the .torrent files (tracker + webseeds)
#   patch-day    8 pactor clients (then 8 aria2c clients), each on its own
#                10 MB/s down / 5 MB/s up line, fetch the same 5 packages at
#                the same moment from one 10 MB/s mirror plus opentracker;
#                clients that are done seed on until the last one is done
#                (each pactor client hands its download to a pactor-seed
#                daemon of its own; aria2c seeds on), unless
#                PACTOR_BENCH_PD_SEED=0
#   (default: all but fast)
#
#   --quick      smaller package sets (4 x 1-4 MiB; small300 -> 60 packages;
#                patch-day 4 x 3-5 MiB instead of 5 x 12-20 MiB)
#   --runs N     runs per tool and scenario (default 1; the median is shown)
#
# PACTOR_BENCH_SET_SEED=N draws the package sizes from bash's RANDOM seeded
# with N: the same scenarios get the same sets in every invocation, so two
# builds can be compared on one set (PACTOR_BIN and friends pick the build).
#
# Each run starts from a fresh cache, root and pactor state; the sync db is
# copied in beforehand, and what is left to write back is synced (not
# timed). Every downloaded file is checked by
# sha256 before a run counts. MB = 10^6 bytes. Every run is timed by
# /usr/bin/time too: CPU seconds (user + system) and peak RSS of the tool and
# its children (pactor's download process) go into the table. swarm and patch-day build a
# bridged network of namespaces (scripts/bench/hub.sh) and need opentracker
# and transmission-daemon besides. PACTOR_BENCH_HOLD=N keeps a scenario's
# network and servers up N seconds after its runs, for a look inside. Knobs (kB/s = 1000 bytes/s):
# PACTOR_BENCH_SEED_KBPS (4000), PACTOR_BENCH_PD_CLIENTS (8),
# PACTOR_BENCH_PD_MIRROR_KBPS / _DOWN_KBPS / _UP_KBPS (10000/10000/5000),
# PACTOR_BENCH_PD_TOOLS ("pactor aria2c"), PACTOR_BENCH_PD_SEED (1);
# PACTOR_BENCH_TOOLS ("pactor pacman aria2c") picks the tools of the four
# mirror scenarios (e.g. pactor alone, for A/B runs on one package set);
# PACTOR_BENCH_NO_TORRENTS=1 makes no torrents in the four mirror scenarios
# (pactor -x then runs on its multi-mirror HTTP engine alone);
# PACTOR_BENCH_DEBUG=1 runs pactor with --debug (a line per file downloaded,
# with its time and sources, in the logs kept by --keep);
# PACTOR_BENCH_ACCESS_LOG=1 makes the nginx mirrors log every request
# (connection, status, bytes sent, body bytes, seconds taken, range, URI,
# and the time it ended) to nginx<N>/access.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PACTOR="${PACTOR_BIN:-$TARGET_DIR/release/pactor}"
MKTORRENT="${PACTOR_MKTORRENT_BIN:-$TARGET_DIR/release/pactor-mktorrent}"
PACTOR_SEED="${PACTOR_SEED_BIN:-$TARGET_DIR/release/pactor-seed}"
quick=0 runs=1 keep=0 scenarios=()
while (($#)); do
    case "$1" in
        --quick) quick=1; shift ;;
        --runs) runs="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        -*) echo "bench-x.sh: unknown option $1" >&2; exit 2 ;;
        *) scenarios+=("$1"); shift ;;
    esac
done
((${#scenarios[@]})) || scenarios=(healthy slow-first stall-first small300 swarm patch-day)

BENCH_TIMEOUT="${PACTOR_BENCH_TIMEOUT:-1800}" # bound of every server
RUN_TIMEOUT="${PACTOR_BENCH_RUN_TIMEOUT:-240}" # bound of each download run

die() { printf 'bench-x.sh: error: %s\n' "$*" >&2; exit 1; }
say() { printf '\n==> %s\n' "$*"; }
[[ $EUID == 0 ]] || die "needs root (network namespaces, tc)"
find_tool() {
    local c
    for c in "$(command -v "$1" 2>/dev/null || true)" "$ROOT"/.deps/pacman-*/bin/"$1"; do
        [[ -n "$c" && -x "$c" ]] && { echo "$c"; return; }
    done
    return 1
}
REPO_ADD="$(find_tool repo-add)" || die "repo-add not found (./setup.sh deps)"
PACMAN="${PACTOR_REF_PACMAN:-$(ls "$ROOT"/.deps/pacman-*/bin/pacman 2>/dev/null | head -1)}"
[[ -x "$PACMAN" ]] || PACMAN="$(find_tool pacman)" || die "reference pacman not found"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
TIME=/usr/bin/time
for t in "$NGINX" aria2c python3 bsdtar zstd ip tc sha256sum "$TIME" "$PACTOR" "$MKTORRENT"; do
    command -v "$t" >/dev/null || die "$t not found"
done
classic=0 hubbed=0
for sc in "${scenarios[@]}"; do
    case "$sc" in
        swarm | patch-day) hubbed=1 ;;
        *) classic=1 ;;
    esac
done
if ((hubbed)); then
    for t in opentracker transmission-daemon "$PACTOR_SEED"; do
        command -v "$t" >/dev/null || die "$t not found (swarm and patch-day need it)"
    done
fi

umask 022
SB="$(mktemp -d "${TMPDIR:-/tmp}/pactor-bench.XXXXXX")"
chmod 755 "$SB"
TAG="pb$$"                          # netns / veth name prefix
NET="10.$((100 + $$ % 100))"        # 10.N.<mirror>.{1,2}/24
server_pids=()
namespaces=()
stop_servers() {
    local p
    for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    server_pids=()
}
cleanup() {
    stop_servers
    local n
    for n in "${namespaces[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    if ((keep)); then printf '\nsandbox kept: %s\n' "$SB"; else rm -rf "$SB"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- packages ----------------------------------------------------------------

REPO=bench
ARCH="$(uname -m)"
if [ -n "${PACTOR_BENCH_SET_SEED:-}" ]; then
    RANDOM=$PACTOR_BENCH_SET_SEED
fi
build_set() { # name count min_bytes max_bytes
    local set="$1" n="$2" lo="$3" hi="$4" d="$SB/tree-$1/$REPO/os/$ARCH" i
    mkdir -p "$d" "$SB/pkgs-$set"
    # Drawn here: bash reseeds RANDOM in the pipeline's subshell.
    local sizes=()
    for ((i = 1; i <= n; i++)); do
        sizes+=($((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1))))
    done
    for ((i = 1; i <= n; i++)); do
        printf '%s %s %s\n' "$(printf '%s%03d' "$set" "$i")" "${sizes[i - 1]}" "$SB/pkgs-$set"
    done | xargs -P "$(nproc)" -L 1 sh -c \
        '"$0" -o "$3" -a '"$ARCH"' -z usr/share/$1/blob=$2 "$1" 1.0 >/dev/null' "$ROOT/scripts/mkpkg.sh"
    cp "$SB/pkgs-$set"/*.pkg.tar.zst "$d/"
    "$REPO_ADD" -q "$d/$REPO.db.tar.gz" "$d"/*.pkg.tar.zst
    (cd "$d" && sha256sum -- *.pkg.tar.zst) >"$SB/$set.sha256"
    ls "$SB/pkgs-$set" | sed 's/-1\.0-1-.*//' >"$SB/$set.names"
}

MiB=1048576
say "building packages"
sets=()
for sc in "${scenarios[@]}"; do
    case "$sc" in
        small300) sets+=(small) ;;
        patch-day) sets+=(pd) ;;
        fast) sets+=(large) ;;
        *) sets+=(big) ;;
    esac
done
mapfile -t sets < <(printf '%s\n' "${sets[@]}" | sort -u)
for s in "${sets[@]}"; do
    case "$s.$quick" in
        big.1) build_set big 4 $MiB $((4 * MiB)) ;;
        big.0) build_set big 8 $((4 * MiB)) $((16 * MiB)) ;;
        small.1) build_set small 60 $((20 * 1024)) $((200 * 1024)) ;;
        small.0) build_set small 300 $((20 * 1024)) $((200 * 1024)) ;;
        pd.1) build_set pd 4 $((3 * MiB)) $((5 * MiB)) ;;
        pd.0) build_set pd 5 $((12 * MiB)) $((20 * MiB)) ;;
        large.1) build_set large 4 $((8 * MiB)) $((16 * MiB)) ;;
        large.0) build_set large 8 $((24 * MiB)) $((48 * MiB)) ;;
    esac
done
for s in "${sets[@]}"; do
    printf '  %-5s %4d packages, %d bytes\n' "$s" "$(wc -l <"$SB/$s.names")" \
        "$(cd "$SB/tree-$s/$REPO/os/$ARCH" && du -cb -- *.pkg.tar.zst | tail -1 | cut -f1)"
done

# --- network: one namespace per mirror ---------------------------------------

PORT=8080
mirror_ip() { echo "$NET.$1.2"; }
for i in 0 1 2 3; do
    ((classic)) || break
    ns="$TAG-m$i"
    ip netns add "$ns"; namespaces+=("$ns")
    ip link add "${TAG}h$i" type veth peer name "${TAG}n$i"
    ip link set "${TAG}n$i" netns "$ns"
    ip addr add "$NET.$i.1/24" dev "${TAG}h$i"; ip link set "${TAG}h$i" up
    ip -n "$ns" addr add "$NET.$i.2/24" dev "${TAG}n$i"
    ip -n "$ns" link set "${TAG}n$i" up; ip -n "$ns" link set lo up
    # offloads off: tbf then shapes real packets, not 64 KiB GSO bursts
    if command -v ethtool >/dev/null; then
        ethtool -K "${TAG}h$i" tso off gso off gro off >/dev/null 2>&1 || true
        ip netns exec "$ns" ethtool -K "${TAG}n$i" tso off gso off gro off >/dev/null 2>&1 || true
    fi
done
shape() { # mirror MB/s [delay]: the mirror's total upload (tbf) plus 30 ms (netem); delay 0: none
    local i="$1" mbit=$(($2 * 8)) ns="$TAG-m$1" dev="${TAG}n$1"
    local burst=$(($2 * 1000000 / 100)); ((burst < 32768)) && burst=32768
    tc -n "$ns" qdisc del dev "$dev" root 2>/dev/null || true
    tc -n "$ns" qdisc add dev "$dev" root handle 1: tbf rate "${mbit}mbit" burst "$burst" latency 100ms
    if [[ ${3:-30} == 0 ]]; then
        DELAY="none" DELAY_LINE=0
        return 0
    fi
    # netem may be missing from the kernel: then a delay line in front of each
    # mirror (scripts/bench/delay.py) holds its answers 30 ms instead, unless
    # PACTOR_BENCH_DELAY_LINE=0 (no added delay)
    if tc -n "$ns" qdisc add dev "$dev" parent 1:1 handle 10: netem delay 30ms limit 100000 2>/dev/null; then
        DELAY="30 ms (netem)" DELAY_LINE=0
    elif [[ ${PACTOR_BENCH_DELAY_LINE:-1} == 1 ]]; then
        DELAY="30 ms (no sch_netem in this kernel: a delay line, scripts/bench/delay.py)" DELAY_LINE=1
    else
        DELAY="none (no sch_netem in this kernel, PACTOR_BENCH_DELAY_LINE=0)" DELAY_LINE=0
    fi
}
DELAY=unset DELAY_LINE=0
# the port a mirror's server listens on: behind the delay line, the next one
server_port() { if ((DELAY_LINE)); then echo $((PORT + 1)); else echo "$PORT"; fi; }
start_delay() { # mirror
    ((DELAY_LINE)) || return 0
    ip netns exec "$TAG-m$1" timeout -k 5 "$BENCH_TIMEOUT" python3 "$ROOT/scripts/bench/delay.py" \
        "$(mirror_ip "$1")" "$PORT" "$(server_port)" 30 "$BENCH_TIMEOUT" &
    server_pids+=($!)
}

start_nginx() { # mirror tree
    local i="$1" d="$SB/nginx$1" access="access_log off;"
    mkdir -p "$d/tmp"
    if [[ -n ${PACTOR_BENCH_ACCESS_LOG:-} ]]; then
        access="log_format pb '\$connection \$status \$bytes_sent \$body_bytes_sent \$request_time \$http_range \$request_uri \$msec';"
        access+=" access_log $d/access.log pb;"
    fi
    cat >"$d/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1;
pid $d/nginx.pid; error_log $d/error.log warn;
events { worker_connections 1024; }
http {
    $access sendfile on; keepalive_requests 10000;
    client_body_temp_path $d/tmp/b; proxy_temp_path $d/tmp/p;
    fastcgi_temp_path $d/tmp/f; uwsgi_temp_path $d/tmp/u; scgi_temp_path $d/tmp/s;
    default_type application/octet-stream;
    server { listen $(mirror_ip "$i"):$(server_port); root $SB/tree-$2; }
}
CONF
    ip netns exec "$TAG-m$i" timeout -k 5 "$BENCH_TIMEOUT" "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" &
    server_pids+=($!)
    start_delay "$i"
}
start_stall() { # mirror tree
    ip netns exec "$TAG-m$1" timeout -k 5 "$BENCH_TIMEOUT" python3 "$ROOT/scripts/bench/stall.py" \
        "$SB/tree-$2" "$(mirror_ip "$1")" "$(server_port)" $MiB 120 "$BENCH_TIMEOUT" &
    server_pids+=($!)
    start_delay "$1"
}
wait_up() { # mirror
    local n p
    for p in "$(server_port)" "$PORT"; do
        for n in $(seq 101); do
            ((n <= 100)) || die "mirror $1 did not start"
            (exec 3<>"/dev/tcp/$(mirror_ip "$1")/$p") 2>/dev/null && break
            sleep 0.1
        done
    done
}

# --- runs --------------------------------------------------------------------

RESULTS="$SB/results.tsv"
: >"$RESULTS"
LOADS=() DELAYS=()

prepare_root() { # dir set
    local r="$1"
    rm -rf "$r"
    mkdir -p "$r/root/var/lib/pacman/sync" "$r/cache" "$r/hooks" "$r/gnupg" "$r/state" "$r/conf"
    chmod 700 "$r/gnupg"
    cp "$SB/tree-$2/$REPO/os/$ARCH/$REPO.db.tar.gz" "$r/root/var/lib/pacman/sync/$REPO.db"
    {
        printf '[options]\nArchitecture = auto\nSigLevel = Never\nParallelDownloads = 5\n\n[%s]\n' "$REPO"
        for s in "${SERVERS[@]}"; do printf 'Server = %s/$repo/os/$arch\n' "$s"; done
    } >"$r/conf/pacman.conf"
    printf '[options]\nStateDir = %s\n' "$r/state" >"$r/conf/pactor.conf"
    # the swarm: trackers and peers only, listening in the client's namespace
    ((SWARM)) && printf 'DHT = no\nLSD = no\nListenPort = %s\n' "$BT_PORT" >>"$r/conf/pactor.conf"
    return 0
}
SERVERS=()
for i in 0 1 2 3; do SERVERS+=("http://$(mirror_ip $i):$PORT"); done
SWARM=0 RUN_NS=()
alpm_args() { # dir
    printf '%s\n' --config "$1/conf/pacman.conf" --root "$1/root" --dbpath "$1/root/var/lib/pacman" \
        --cachedir "$1/cache" --hookdir "$1/hooks" --gpgdir "$1/gnupg" --logfile "$1/pacman.log" \
        --noprogressbar
}

verify() { # set dir -> prints bytes, or fails
    local set="$1" dir="$2"
    (cd "$dir" && sha256sum --quiet -c "$SB/$set.sha256" >/dev/null 2>&1) || return 1
    (cd "$dir" && cut -d' ' -f3 "$SB/$set.sha256" | xargs du -cb | tail -1 | cut -f1)
}

# The command line of TOOL downloading SET into DIR/cache, one word a line.
tool_cmd() { # tool dir set
    local r="$2" set="$3" f i
    mapfile -t names <"$SB/$set.names"
    case "$1" in
        pactor)
            # outside the swarm scenarios run_tool sets PACTOR_SWARM_LOCAL_ONLY=1
            # itself: an `env` here would be timed with pactor (~1.5 ms)
            ((SWARM)) && printf '%s\n' env -u PACTOR_SWARM_LOCAL_ONLY
            printf '%s\n' "$PACTOR"; alpm_args "$r"
            # PACTOR_BENCH_DEBUG=1: --debug, with a line per file downloaded in the logs
            [[ ${PACTOR_BENCH_DEBUG:-0} == 1 ]] && printf '%s\n' --debug
            printf '%s\n' -Sxw --noconfirm "${names[@]}" ;;
        pacman)
            printf '%s\n' "$PACMAN"; alpm_args "$r"; printf '%s\n' -Sw --noconfirm "${names[@]}" ;;
        aria2c)
            printf '%s\n' aria2c -d "$r/cache" --file-allocation=none --allow-overwrite=true \
                --auto-file-renaming=false --summary-interval=0 --console-log-level=warn --enable-color=false
            if ((SWARM)); then
                # the .torrent files (tracker + every mirror as BEP 19 webseed), no seeding after
                printf '%s\n' -j 1000 -x4 -s4 --seed-time=0 --listen-port="$BT_PORT" --enable-dht=false \
                    --enable-dht6=false --bt-enable-lpd=false "$SB/tree-$set/$REPO/os/$ARCH"/*.torrent
            else
                while read -r _ f; do
                    f="${f#\*}"
                    for i in "${SERVERS[@]}"; do printf '%s/%s/os/%s/%s\t' "$i" "$REPO" "$ARCH" "$f"; done
                    printf '\n  out=%s\n' "$f"
                done <"$SB/$set.sha256" | sed 's/\t$//' >"$r/aria2.in"
                printf '%s\n' -j5 -x4 -s4 -i "$r/aria2.in"
            fi ;;
    esac
}

run_tool() { # scenario set tool run
    local sc="$1" set="$2" tool="$3" r="$SB/run-$1-$3-$4" rc=0 t0 t1 mark=""
    prepare_root "$r" "$set"
    mapfile -t cmd < <(tool_cmd "$tool" "$r" "$set")
    local seeds=""
    ((${#MIRROR_LOGS[@]})) && mark="$(log_mark)"
    ((${#SEEDERS[@]})) && seeds="$(seeder_tx)"
    # pactor's swarm stays on this machine (no DHT bootstrap nodes, no
    # public trackers) outside the swarm scenarios
    ((SWARM)) || local -x PACTOR_SWARM_LOCAL_ONLY=1
    # what earlier steps left to write back (the package sets, the last
    # run's files: pacman and aria2c do not fsync) goes to disk now, not
    # during this run
    sync
    t0="$(date +%s.%N)"
    "${RUN_NS[@]}" timeout -k 5 "$RUN_TIMEOUT" "$TIME" -o "$r/rusage" -f '%U %S %M' \
        "${cmd[@]}" >"$r/out.log" 2>&1 || rc=$?
    t1="$(date +%s.%N)"
    local bytes served="" src="" cpu="" rss=""
    # user + system seconds and peak RSS (KiB) of the tool and its children
    read -r cpu rss < <(awk 'NF == 3 && $1 ~ /^[0-9.]+$/ { printf "%.2f %d\n", $1 + $2, $3 }' "$r/rusage" 2>/dev/null) || true
    [[ -n $mark ]] && served="$(log_bytes "$mark")"
    [[ $tool == pactor ]] && src="$(pactor_summary "$r/out.log")"
    [[ -n $seeds ]] && seeds="$(seeder_sent "$seeds")"
    local wall
    wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')"
    if ((rc == 0)) && bytes="$(verify "$set" "$r/cache")"; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$tool" "$4" "$wall" "$bytes" "$served" \
            "$src" "$seeds" "$cpu" "$rss" >>"$RESULTS"
        printf '  %-7s run %d: %6.2f s  %d bytes  sha256 ok%s%s%s%s\n' "$tool" "$4" "$wall" "$bytes" \
            "${cpu:+; CPU $cpu s, peak RSS $((rss / 1024)) MiB}" \
            "${served:+; mirrors sent $served bytes}" "${src:+; pactor: $src MiB from peers/mirrors}" \
            "${seeds:+; seeders sent (MB) $seeds}"
    else
        printf '%s\t%s\t%s\tFAIL\t0\t%s\t%s\t%s\n' "$sc" "$tool" "$4" "$served" "$src" "$seeds" >>"$RESULTS"
        printf '  %-7s run %d: FAILED (exit %d or sha256 mismatch); last output:\n' "$tool" "$4" "$rc"
        tail -5 "$r/out.log" | sed 's/^/    /'
    fi
}

source "$ROOT/scripts/bench/hub.sh"

declare -A LIMIT
for sc in "${scenarios[@]}"; do
    case "$sc" in
        healthy) set=big rates=(20 10 5 5) first=nginx limit=40 ;;
        slow-first) set=big rates=(1 10 5 5) first=nginx limit=21 ;;
        stall-first) set=big rates=(20 10 5 5) first=stall limit=20 ;;   # the staller delivers ~nothing
        small300) set=small rates=(20 10 5 5) first=nginx limit=40 ;;
        fast) set=large rates=(25 25 25 25) first=nginx limit=100 delay=0 ;;
        swarm) stop_servers; scenario_swarm; continue ;;
        patch-day) stop_servers; scenario_patchday; continue ;;
        *) echo "bench-x.sh: unknown scenario $sc (skipped)" >&2; continue ;;
    esac
    LIMIT[$sc]=$limit
    stop_servers
    MIRROR_LOGS=()
    for i in 0 1 2 3; do shape "$i" "${rates[$i]}" "${delay:-30}"; done
    delay=
    say "$sc: mirrors ${rates[*]} MB/s, added delay $DELAY, first mirror: $first, limit $limit MB/s; load $(cut -d' ' -f1-3 /proc/loadavg)"
    LOADS+=("$sc: $(cut -d' ' -f1-3 /proc/loadavg)")
    DELAYS+=("$sc: $DELAY")
    rm -f "$SB/tree-$set/$REPO/os/$ARCH"/*.torrent "$SB/tree-$set/.pactor-mktorrent.state"
    ws=(); for i in 0 1 2 3; do ws+=(-w "http://$(mirror_ip $i):$PORT/\$repo/os/\$arch"); done
    # PACTOR_BENCH_NO_TORRENTS=1: no torrents, pactor -x on its HTTP engine alone
    [[ ${PACTOR_BENCH_NO_TORRENTS:-0} == 1 ]] || "$MKTORRENT" "${ws[@]}" "$SB/tree-$set" >/dev/null
    chmod -R a+rX "$SB/tree-$set"
    if [[ $first == stall ]]; then start_stall 0 "$set"; else start_nginx 0 "$set"; fi
    for i in 1 2 3; do start_nginx "$i" "$set"; done
    for i in 0 1 2 3; do wait_up "$i"; done
    for ((run = 1; run <= runs; run++)); do
        for tool in ${PACTOR_BENCH_TOOLS:-pactor pacman aria2c}; do run_tool "$sc" "$set" "$tool" "$run"; done
    done
    hub_hold
done
stop_servers

# --- table -------------------------------------------------------------------

if [[ -s $RESULTS ]]; then
say "results (median of $runs run(s); MB = 10^6 bytes; limit = sum of the deliverable mirror caps, swarm: plus the seeders' upload caps)"
python3 - "$RESULTS" "$(for s in "${!LIMIT[@]}"; do printf '%s=%s,' "$s" "${LIMIT[$s]}"; done)" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
limits = dict(kv.split("=") for kv in sys.argv[2].strip(",").split(",") if kv)
order = []
res = {}
src = {}
use = {}
for sc, tool, run, t, b, served, pm, seeds, cpu, rss in (r + [""] * (10 - len(r)) for r in rows):
    if sc not in order: order.append(sc)
    res.setdefault((sc, tool), []).append(None if t == "FAIL" else (float(t), int(b)))
    if t != "FAIL" and cpu:
        use.setdefault((sc, tool), []).append((float(cpu), float(cpu) / float(t), int(rss) / 1024))
    if served:
        src.setdefault((sc, tool), []).append((served, pm, seeds))
print("| scenario | tool | wall s | MB | MB/s | of limit | pactor vs it | CPU s | cores | peak RSS MiB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for sc in order:
    tp = {}
    for tool in ("pactor", "pacman", "aria2c"):
        ok = [r for r in res.get((sc, tool), []) if r]
        if ok:
            t = statistics.median(r[0] for r in ok); b = ok[0][1]
            tp[tool] = (t, b, b / t / 1e6)
    for tool in ("pactor", "pacman", "aria2c"):
        n = len(res.get((sc, tool), []))
        if n == 0:
            continue  # not run (PACTOR_BENCH_TOOLS)
        if tool not in tp:
            print(f"| {sc} | {tool} | FAIL | | | | | | | |"); continue
        t, b, mbs = tp[tool]
        fails = n - len([r for r in res[(sc, tool)] if r])
        vs = ""
        if tool != "pactor" and "pactor" in tp:
            vs = f"{tp['pactor'][2] / mbs:.2f}x"
        note = f" ({fails} failed)" if fails else ""
        u = use.get((sc, tool), [])
        # medians over the runs; peak RSS: the largest of them
        cpu = f"{statistics.median(x[0] for x in u):.2f} | {statistics.median(x[1] for x in u):.2f} | {max(x[2] for x in u):.0f}" if u else " | |"
        print(f"| {sc} | {tool}{note} | {t:.2f} | {b/1e6:.1f} | {mbs:.2f} | {mbs/float(limits[sc]):.0%} of {limits[sc]} | {vs} | {cpu} |")
if src:
    print("\nWhere the bytes came from (mirrors: package bytes in the nginx access logs; pactor: its summary line)\n")
    print("| scenario | tool | run | MB from mirrors (nginx) | pactor: MiB from peers / mirrors | MB sent by each seeder (veth) |")
    print("|---|---|---:|---:|---|---|")
    for (sc, tool), l in src.items():
        for i, (served, pm, seeds) in enumerate(l, 1):
            print(f"| {sc} | {tool} | {i} | {int(served)/1e6:.1f} | {pm.replace(' ', ' / ') if tool == 'pactor' else ''} | {seeds} |")
PY
fi
pd_report
printf '\nload average at the start of each scenario: %s\n' "$(IFS=';'; echo "${LOADS[*]}")"
# each mirror scenario's own (fast has none; the last one's alone said so for all)
((${#DELAYS[@]})) && printf 'added delay: %s\n' "$(IFS=';'; echo "${DELAYS[*]}")"
printf 'machine: %s, %s CPUs\n' "$(uname -srm)" "$(nproc)"
