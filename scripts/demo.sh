#!/usr/bin/env bash
# pactor demo: a sandboxed root installing a small package set from a local
# repository served by four local mirrors (one dead, one rate-limited, two
# healthy), first as pacman would (plain), then with -x (torrent + every
# mirror at once). For -x, pactor-mktorrent publishes a .torrent beside each
# package, and a seeder -- pactor-seed over a cache holding the packages,
# found through a local opentracker -- joins the mirrors as a peer (without
# opentracker the mirrors alone are the swarm). Nothing outside a temp dir is
# touched; every process the demo starts is stopped at exit and bounded in
# time.
#
#   scripts/demo.sh [--pactor BIN] [--compare] [--keep] [--rate RATE] [TARGET...]
#
#   --compare   also run the reference pacman on the same repo first
#   --keep      keep the sandbox (printed at exit)
#   --rate R    nginx limit_rate of the slow mirror (default 1m = 1 MiB/s)
#   TARGET      what to install (default: hello)
#
# ./setup.sh demo builds the release binaries and runs this.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PACTOR="${PACTOR_BIN:-$TARGET_DIR/release/pactor}"
MKTORRENT="${PACTOR_MKTORRENT_BIN:-$TARGET_DIR/release/pactor-mktorrent}"
SEEDER="${PACTOR_SEED_BIN:-$TARGET_DIR/release/pactor-seed}"
compare=0
keep=0
rate=1m
targets=()
while (($#)); do
    case "$1" in
        --pactor) PACTOR="$2"; shift 2 ;;
        --compare) compare=1; shift ;;
        --keep) keep=1; shift ;;
        --rate) rate="$2"; shift 2 ;;
        -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
((${#targets[@]})) || targets=(hello)

# Upper bound for every server this script starts and for each pactor run.
DEMO_TIMEOUT="${PACTOR_DEMO_TIMEOUT:-900}"
RUN_TIMEOUT="${PACTOR_DEMO_RUN_TIMEOUT:-300}"

bold() { if [[ -t 1 ]]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
say() { printf '\n'; bold "==> $*"; }
die() { printf 'demo.sh: error: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------

find_tool() { # name: PATH, then the local libalpm prefix
    local c
    for c in "$(command -v "$1" 2>/dev/null || true)" \
        "${PACTOR_ALPM_PREFIX:+$PACTOR_ALPM_PREFIX/bin/$1}" "$ROOT"/.deps/pacman-*/bin/"$1"; do
        [[ -n "$c" && -x "$c" ]] && { echo "$c"; return; }
    done
    return 1
}
REPO_ADD="$(find_tool repo-add)" || die "repo-add not found (run ./setup.sh deps)"
REF_PACMAN="$(find_tool pacman)" || die "pacman not found (run ./setup.sh deps)"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
[[ -x "$NGINX" ]] || die "nginx not found"
for t in bsdtar zstd python3 curl; do command -v "$t" >/dev/null || die "$t not found"; done
for b in "$PACTOR" "$MKTORRENT" "$SEEDER"; do
    [[ -x "$b" ]] || die "$(basename "$b") not found at $b (cargo build --release --locked --bins)"
done
PACTOR="$(realpath "$PACTOR")"

# --- sandbox -----------------------------------------------------------------

umask 022
SB="$(mktemp -d "${TMPDIR:-/tmp}/pactor-demo.XXXXXX")"
# nginx workers run as nobody when started as root: the served tree must be
# world-readable all the way down.
chmod 755 "$SB"
server_pids=()
cleanup() {
    local p
    for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if ((keep)); then printf '\nsandbox kept: %s\n' "$SB"; else rm -rf "$SB"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

REPO=demo
ARCH="$(uname -m)"
REPODIR="$SB/mirror/$REPO/os/$ARCH"
mkdir -p "$SB/pkgs" "$REPODIR"

say "building packages (bsdtar + zstd) and the '$REPO' repository (repo-add)"
mk() { "$ROOT/scripts/mkpkg.sh" -o "$SB/pkgs" "$@" >/dev/null; }
mk -g greet-suite --desc "a tiny greeting library" \
    -f usr/lib/libgreet/greeting.txt="Hello, world" libgreet 1.1
mk -g greet-suite --desc "greeting phrases in many languages" \
    -z usr/share/greet/phrases.bin=6291456 -f usr/share/greet/README="phrases" greet-data 1.0
mk -g greet-suite --desc "prints a friendly greeting" -d 'libgreet>=1.0' -d greet-data \
    -x usr/bin/hello='#!/bin/sh
cat /usr/lib/libgreet/greeting.txt' hello 2.0
mk -g greet-suite --desc "hello's manual" -d hello -z usr/share/doc/hello/manual.bin=2097152 hello-doc 2.0
cp "$SB"/pkgs/*.pkg.tar.zst "$REPODIR/"
"$REPO_ADD" -q "$REPODIR/$REPO.db.tar.gz" "$REPODIR"/*.pkg.tar.zst
(cd "$REPODIR" && ls -l --time-style=+ -- *.pkg.tar.zst | awk '{printf "  %-40s %9d bytes\n", $NF, $5}')

# --- mirrors -----------------------------------------------------------------

# Six free loopback ports: four mirrors (the first stays closed, a dead
# mirror), the tracker and the seeder.
mapfile -t ports < <(python3 - <<'PY'
import socket
socks = []
for _ in range(6):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
PY
)
TRACKER_PORT="${ports[4]}" SEED_PORT="${ports[5]}"
ports=("${ports[@]:0:4}")
names=(dead slow fast-a fast-b)

start_mirror() { # index rate
    local i="$1" rate="$2" d="$SB/nginx/${names[$1]}" port="${ports[$1]}"
    mkdir -p "$d/tmp"
    local limit=""
    # limit_rate is per connection: one connection at a time makes the
    # whole mirror slow, as a real congested mirror is (extra ones get 503).
    [[ "$rate" != 0 ]] && limit="limit_conn mirror 1; limit_rate $rate;"
    cat >"$d/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 64; }
http {
    log_format bytes '\$status \$body_bytes_sent \$request_uri';
    access_log $d/access.log bytes;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    default_type application/octet-stream;
    limit_conn_zone \$server_port zone=mirror:1m;
    server {
        listen 127.0.0.1:$port;
        root $SB/mirror;
        location / { $limit }
    }
}
CONF
    timeout -k 5 "$DEMO_TIMEOUT" "$NGINX" -e "$d/error.log" -p "$d" -c "$d/nginx.conf" &
    server_pids+=($!)
    local n
    for n in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
        sleep 0.1
    done
    cat "$d/error.log" >&2
    die "mirror ${names[$i]} did not start on port $port"
}

say "starting mirrors (nginx on 127.0.0.1)"
start_mirror 1 "$rate"
start_mirror 2 0
start_mirror 3 0
printf '  %-7s http://127.0.0.1:%s  (nothing listens)\n' dead "${ports[0]}"
printf '  %-7s http://127.0.0.1:%s  (one connection at a time, limit_rate %s)\n' slow "${ports[1]}" "$rate"
printf '  %-7s http://127.0.0.1:%s\n' fast-a "${ports[2]}" fast-b "${ports[3]}"

servers=()
for p in "${ports[@]}"; do servers+=("http://127.0.0.1:$p/\$repo/os/\$arch"); done

# One .torrent per package next to it, made by pactor-mktorrent as a mirror
# would: every mirror as a BEP 19 webseed, and the local tracker when there is
# one (else the mirrors alone are the swarm).
tracker=()
if command -v opentracker >/dev/null; then
    tracker=(--tracker "http://127.0.0.1:$TRACKER_PORT/announce")
fi
: >"$SB/mktorrent.conf"
webseeds=()
for s in "${servers[@]}"; do webseeds+=(--webseed "$s"); done
"$MKTORRENT" --config "$SB/mktorrent.conf" --quiet "${webseeds[@]}" "${tracker[@]}" "$SB/mirror" ||
    die "pactor-mktorrent failed"

# The seeder: pactor-seed over a cache that holds the packages, with their
# torrents where pactor keeps them, announcing to opentracker. Debian's
# opentracker serves only whitelisted torrents and chroots into its directory.
seed_args=()
start_seeder() {
    local d="$SB/seeder" user=() h n
    mkdir -p "$d/tracker" "$d/cache" "$d/db/local" "$d/pactor/torrents"
    echo 9 >"$d/db/local/ALPM_DB_VERSION"
    cp "$REPODIR"/*.pkg.tar.zst "$d/cache/"
    for f in "$REPODIR"/*.pkg.tar.zst.torrent; do cp "$f" "$d/pactor/torrents/"; done
    python3 "$ROOT/scripts/bench/bt.py" infohash "$d"/pactor/torrents/*.torrent >"$d/tracker/whitelist"
    timeout -k 5 "$DEMO_TIMEOUT" opentracker -i 127.0.0.1 -p "$TRACKER_PORT" -P "$TRACKER_PORT" \
        -d "$d/tracker" -w whitelist >"$d/tracker.log" 2>&1 &
    server_pids+=($!)
    printf '[options]\nCacheDir = %s/cache/\nDBPath = %s/db/\nArchitecture = auto\n' "$d" "$d" >"$d/pacman.conf"
    printf '[options]\nStateDir = %s/pactor\n\n[seed]\nStateDir = %s/state\nRuntimeDir = %s/run\nListenPort = %s\nDHT = no\nLSD = no\n' \
        "$d" "$d" "$d" "$SEED_PORT" >"$d/pactor.conf"
    # As root it must be told whom to run as (it never seeds as root).
    [[ $EUID == 0 ]] && user=(--user nobody)
    seed_args=(--pacman-config "$d/pacman.conf" --config "$d/pactor.conf")
    timeout -k 5 "$DEMO_TIMEOUT" env -i LC_ALL=C PATH=/usr/bin:/bin \
        "$SEEDER" "${seed_args[@]}" run "${user[@]}" >"$d/seed.log" 2>&1 &
    server_pids+=($!)
    n="$(ls "$d"/pactor/torrents/*.torrent | wc -l)"
    mapfile -t h <"$d/tracker/whitelist"
    if ! python3 "$ROOT/scripts/bench/bt.py" wait-seeds "http://127.0.0.1:$TRACKER_PORT" 1 30 "${h[@]}" >/dev/null; then
        sed 's/^/  seeder: /' "$d/seed.log" | tail -5
        echo "  (the seeder did not reach the tracker: the mirrors alone are the swarm)"
        return
    fi
    "$SEEDER" "${seed_args[@]}" status | sed 's/^/  /'
    printf '  seeder  127.0.0.1:%s, %s packages, tracker http://127.0.0.1:%s\n' "$SEED_PORT" "$n" "$TRACKER_PORT"
}
if ((${#tracker[@]})); then
    say "starting the seeder (pactor-seed) and the tracker (opentracker)"
    start_seeder
else
    say "no opentracker here: no seeder, the mirrors alone are the swarm"
fi

cat >"$SB/pacman.conf" <<CONF
# pactor demo: every path is under $SB
[options]
Architecture = auto
SigLevel = Never
ParallelDownloads = 5

[$REPO]
$(printf 'Server = %s\n' "${servers[@]}")
CONF
# pactor's own settings beside pacman.conf: peers only through the local
# tracker (no public DHT, no multicast), and no pactor-seed of the machine's.
cat >"$SB/pactor.conf" <<CONF
[options]
DHT = no
LSD = no

[seed]
RuntimeDir = $SB/no-daemon
CONF
say "pacman.conf"
sed 's/^/  /' "$SB/pacman.conf"

# --- runs --------------------------------------------------------------------

make_root() { # name
    local r="$SB/$1"
    mkdir -p "$r/root/var/lib/pacman" "$r/cache" "$r/hooks" "$r/gnupg"
    chmod 700 "$r/gnupg"
}
paths_for() { # name
    local r="$SB/$1"
    printf '%s\n' --config "$SB/pacman.conf" --root "$r/root" --dbpath "$r/root/var/lib/pacman" \
        --cachedir "$r/cache" --hookdir "$r/hooks" --gpgdir "$r/gnupg" --logfile "$r/pacman.log"
}

# Bytes each mirror served since the given marker (access log line counts).
declare -A log_mark
mark_logs() { local n; for n in slow fast-a fast-b; do log_mark[$n]="$(wc -l <"$SB/nginx/$n/access.log" 2>/dev/null || echo 0)"; done; }
served() {
    local n total
    for n in slow fast-a fast-b; do
        total="$(tail -n +"$((${log_mark[$n]} + 1))" "$SB/nginx/$n/access.log" 2>/dev/null |
            awk '$1 ~ /^2/ && $3 ~ /\.pkg\.tar\.zst$/ {s += $2} END {print s + 0}')"
        printf '  %-7s served %10d bytes of packages\n' "$n" "$total"
    done
}

# What the reference pacman would install for the targets: derived, not
# hardcoded, so that other TARGETs work too.
make_root resolve
mapfile -t p < <(paths_for resolve)
"$REF_PACMAN" "${p[@]}" -Sy >/dev/null 2>&1 || true
want="$("$REF_PACMAN" "${p[@]}" -Sp --print-format '%n' "${targets[@]}" 2>/dev/null | sort || true)"

check_root() { # name
    local got
    got="$("$REF_PACMAN" --root "$SB/$1/root" --dbpath "$SB/$1/root/var/lib/pacman" -Qq 2>/dev/null | sort || true)"
    if [[ -n "$want" && "$got" == "$want" ]]; then
        echo "  local db (checked with the reference pacman): $(echo $got) -- as expected"
        return 0
    fi
    echo "  local db (checked with the reference pacman): ${got:-<empty>}; expected: $(echo $want)"
    return 1
}

status=0
run_install() { # label name binary extra-args...
    local label="$1" name="$2" bin="$3"
    shift 3
    make_root "$name"
    mapfile -t p < <(paths_for "$name")
    say "$label: $(basename "$bin") -Sy --noconfirm${*:+ $*} ${targets[*]}"
    mark_logs
    local t0=$SECONDS rc=0
    timeout --foreground -k 5 "$RUN_TIMEOUT" "$bin" "${p[@]}" -Sy --noconfirm "$@" "${targets[@]}" || rc=$?
    printf '  exit %d after %d s\n' "$rc" "$((SECONDS - t0))"
    served
    return "$rc"
}

query() { # name binary
    mapfile -t p < <(paths_for "$1")
    bold "  \$ $(basename "$2") -Q"
    timeout -k 5 60 "$2" "${p[@]}" -Q || echo "  (-Q exited $?)"
}

if ((compare)); then
    run_install "reference" ref "$REF_PACMAN" || true
    query ref "$REF_PACMAN"
    check_root ref || true
fi

if run_install "pactor (plain)" plain "$PACTOR"; then
    query plain "$PACTOR"
    check_root plain || status=1
else
    echo "  pactor failed to install ${targets[*]}"
    check_root plain || true
    status=1
fi

if run_install "pactor -x (torrent + every mirror)" torrent "$PACTOR" -x; then
    query torrent "$PACTOR"
    check_root torrent || status=1
else
    echo "  pactor -x failed to install ${targets[*]}"
    check_root torrent || true
    status=1
fi

if [[ -S "$SB/seeder/run/status.sock" ]]; then
    say "the seeder afterwards"
    "$SEEDER" "${seed_args[@]}" status | grep -E '^(Uploaded|Peers) ' | sed 's/^/  /' || true
fi

say "done: $([[ $status == 0 ]] && echo 'both runs installed the expected packages' || echo 'pactor did not (yet) produce the expected result')"
exit "$status"
