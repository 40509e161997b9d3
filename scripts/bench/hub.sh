# shellcheck shell=bash
# Sourced by scripts/bench-x.sh: the swarm and patch-day scenarios.
#
# Topology: one Linux bridge in a "hub" network namespace; every node (mirror,
# tracker, seeder, client) is a namespace of its own with one veth into the
# bridge, address $HNET.<id>/24. A node's upload is tbf on its own end of the
# veth, its download tbf on the hub's end. The host's namespace never sees
# this network. Rates are kB/s (1000 bytes/s); 0 = unshaped.
#
# Uses from bench-x.sh: TAG, SB, ROOT, REPO, ARCH, MKTORRENT, PORT, namespaces,
# server_pids, stop_servers, die, say, prepare_root, tool_cmd, verify,
# RUN_TIMEOUT, BENCH_TIMEOUT, RESULTS, MIRROR_LOG, LIMIT, LOADS, runs.

HNET="10.$((100 + $$ % 100)).200"
HUB="$TAG-hub"
BT_PORT=6881        # every client and seeder listens here, in its own namespace
TRACKER_PORT=6969
hub_namespaces=()

hub_ns() { # the namespace of node NAME
    echo "$TAG-$1"
}
hub_up() {
    ip netns add "$HUB"
    namespaces+=("$HUB") hub_namespaces+=("$HUB")
    ip -n "$HUB" link set lo up
    ip -n "$HUB" link add br0 type bridge
    ip -n "$HUB" link set br0 up
}
tbf() { # namespace device kB/s
    local burst=$(($3 * 10))
    ((burst < 32768)) && burst=32768
    tc -n "$1" qdisc replace dev "$2" root handle 1: tbf rate "$(($3 * 8))kbit" burst "$burst" latency 100ms
}
hub_node() { # name id up_kBps down_kBps
    local ns a="${TAG}a$2" b="${TAG}b$2"
    ns="$(hub_ns "$1")"
    ip netns add "$ns"
    namespaces+=("$ns") hub_namespaces+=("$ns")
    ip link add "$a" type veth peer name "$b"
    ip link set "$a" netns "$ns"
    ip link set "$b" netns "$HUB"
    ip -n "$HUB" link set "$b" master br0
    ip -n "$HUB" link set "$b" up
    ip -n "$ns" addr add "$HNET.$2/24" dev "$a"
    ip -n "$ns" link set "$a" up
    ip -n "$ns" link set lo up
    if (($3)); then tbf "$ns" "$a" "$3"; fi
    if (($4)); then tbf "$HUB" "$b" "$4"; fi
    # the planned 30 ms on a mirror's line, where the kernel has netem
    if [[ $1 == m* ]] && (($3)); then
        if tc -n "$ns" qdisc add dev "$a" parent 1:1 handle 10: netem delay 30ms limit 100000 2>/dev/null; then
            DELAY="30 ms"
        else
            DELAY="none (no sch_netem in this kernel)"
        fi
    fi
}
hub_hold() { # PACTOR_BENCH_HOLD=N: keep the network and servers up N s for a look
    if [[ -n ${PACTOR_BENCH_HOLD:-} ]]; then
        printf '  holding %s s: namespaces %s-*, sandbox %s\n' "$PACTOR_BENCH_HOLD" "$TAG" "$SB"
        sleep "$PACTOR_BENCH_HOLD" || true
    fi
}
hub_teardown() {
    stop_servers
    local n
    for n in "${hub_namespaces[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    hub_namespaces=()
}
wait_tcp() { # namespace addr port what
    local n
    for n in $(seq 150); do
        ip netns exec "$1" timeout 2 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
        sleep 0.1
    done
    die "$4 did not start ($2:$3)"
}

# nginx serving TREE at ADDR:PORT inside NS, logging "$uri $status
# $body_bytes_sent $remote_addr $msec $request_time "$http_range"" to
# $SB/nginx-NAME/access.log (log_bytes reads the first three;
# scripts/bench/pd_dups.py reads them all: which client took which bytes
# the mirror had sent before, and when).
hub_nginx() { # name ns addr tree
    local d="$SB/nginx-$1"
    mkdir -p "$d/tmp"
    : >"$d/access.log"
    cat >"$d/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1;
pid $d/nginx.pid; error_log $d/error.log warn;
events { worker_connections 1024; }
http {
    log_format bytes '\$uri \$status \$body_bytes_sent \$remote_addr \$msec \$request_time "\$http_range"';
    access_log $d/access.log bytes;
    sendfile on; keepalive_requests 10000;
    client_body_temp_path $d/tmp/b; proxy_temp_path $d/tmp/p;
    fastcgi_temp_path $d/tmp/f; uwsgi_temp_path $d/tmp/u; scgi_temp_path $d/tmp/s;
    default_type application/octet-stream;
    server { listen $3:$PORT; root $4; }
}
CONF
    ip netns exec "$2" timeout -k 5 "$BENCH_TIMEOUT" "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" &
    server_pids+=($!)
    MIRROR_LOGS+=("$d/access.log")
    wait_tcp "$2" "$3" "$PORT" "nginx $1"
}
MIRROR_LOGS=()
log_mark() { # -> prints the line counts of every mirror log
    local f
    for f in "${MIRROR_LOGS[@]}"; do wc -l <"$f"; done | paste -sd,
}
log_bytes() { # mark -> package bytes the mirrors sent since the mark
    local -a marks
    IFS=, read -r -a marks <<<"$1"
    local i sum=0 b
    for i in "${!MIRROR_LOGS[@]}"; do
        b="$(awk -v from="${marks[$i]:-0}" 'NR > from && $1 ~ /\.pkg\.tar\.[a-z0-9]+$/ { s += $3 } END { printf "%d", s }' "${MIRROR_LOGS[$i]}")"
        sum=$((sum + b))
    done
    echo "$sum"
}

# Torrents of SET with the hub mirrors as webseeds and the tracker as
# announce; prints the infohashes.
hub_torrents() { # set tracker_addr mirror_addr...
    local set="$1" tr="$2" t
    shift 2
    local ws=()
    for t in "$@"; do ws+=(-w "http://$t:$PORT/\$repo/os/\$arch"); done
    rm -f "$SB/tree-$set/$REPO/os/$ARCH"/*.torrent "$SB/tree-$set/.pactor-mktorrent.state"
    "$MKTORRENT" -q "${ws[@]}" -t "http://$tr:$TRACKER_PORT/announce" "$SB/tree-$set" >/dev/null
    chmod -R a+rX "$SB/tree-$set"
    python3 "$ROOT/scripts/bench/bt.py" infohash "$SB/tree-$set/$REPO/os/$ARCH"/*.torrent >"$SB/$set.hashes"
}

# opentracker (Debian's build is whitelist-only; it chroots to its directory
# and drops to nobody) at ADDR inside NS.
hub_tracker() { # ns addr set
    local d="$SB/tracker"
    rm -rf "$d"
    mkdir -p "$d"
    chmod 755 "$d"
    cp "$SB/$3.hashes" "$d/whitelist"
    chmod 644 "$d/whitelist"
    ip netns exec "$1" timeout -k 5 "$BENCH_TIMEOUT" opentracker -i "$2" -p "$TRACKER_PORT" -P "$TRACKER_PORT" \
        -d "$d" -w whitelist >"$SB/tracker.log" 2>&1 &
    server_pids+=($!)
    wait_tcp "$1" "$2" "$TRACKER_PORT" opentracker
    sleep 1 # it reads the whitelist in the background
}

# Seeders: each holds every package of SET and seeds it to the tracker.
seed_transmission() { # name addr set
    local d="$SB/seed-$1" ns
    ns="$(hub_ns "$1")"
    rm -rf "$d"
    mkdir -p "$d/cfg" "$d/watch" "$d/dl"
    cp "$SB/pkgs-$3"/*.pkg.tar.zst "$d/dl/"
    cp "$SB/tree-$3/$REPO/os/$ARCH"/*.torrent "$d/watch/"
    ip netns exec "$ns" timeout -k 5 "$BENCH_TIMEOUT" transmission-daemon -f -g "$d/cfg" -c "$d/watch" \
        -w "$d/dl" -p 9091 -r 127.0.0.1 -P "$BT_PORT" -i "$2" --no-dht --no-lpd --no-portmap --no-utp \
        --encryption-tolerated --no-auth --log-info -e "$d/log" >/dev/null 2>&1 &
    server_pids+=($!)
}
seed_aria2() { # name addr set
    local d="$SB/seed-$1" ns
    ns="$(hub_ns "$1")"
    rm -rf "$d"
    mkdir -p "$d/dl"
    cp "$SB/pkgs-$3"/*.pkg.tar.zst "$d/dl/"
    ip netns exec "$ns" timeout -k 5 "$BENCH_TIMEOUT" aria2c -d "$d/dl" -V --seed-ratio=0.0 \
        -j 1000 --listen-port="$BT_PORT" --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
        --bt-max-peers=0 --file-allocation=none --summary-interval=0 --console-log-level=warn \
        --enable-color=false --log="$d/log" --log-level=notice \
        "$SB/tree-$3/$REPO/os/$ARCH"/*.torrent >"$d/out" 2>&1 &
    server_pids+=($!)
}

# Bytes each seeder sent, from the TX counter of its veth (everything it
# sent: mostly pieces, some protocol and tracker traffic).
SEEDERS=() # "name id kind"
seeder_tx() { # -> "b0,b1,..." now
    local n id k
    for n in "${SEEDERS[@]}"; do
        read -r n id k <<<"$n"
        ip -n "$(hub_ns "$n")" -s link show "${TAG}a$id" | awk '/TX:/ { getline; print $1 }'
    done | paste -sd,
}
seeder_sent() { # before -> "kind X.X, ..." MB since before
    local -a before now
    IFS=, read -r -a before <<<"$1"
    IFS=, read -r -a now <<<"$(seeder_tx)"
    local i n id k out=()
    for i in "${!SEEDERS[@]}"; do
        read -r n id k <<<"${SEEDERS[$i]}"
        out+=("$k $(awk -v a="${before[$i]}" -v b="${now[$i]}" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')")
    done
    local IFS=,
    echo "${out[*]}" | sed 's/,/, /g'
}

pactor_summary() { # log -> "peers_MiB mirrors_MiB" from pactor's summary line, or "- -"
    sed -n 's/.* \([0-9.]*\) MiB from peers, \([0-9.]*\) MiB from mirrors.*/\1 \2/p' "$1" | tail -1 | grep . || echo "- -"
}

# --- swarm -------------------------------------------------------------------
# Four mirrors capped at 1/0.5/0.25/0.25 MB/s (2 MB/s in total), three
# seeders (transmission-daemon, two aria2c) at SEED_KBPS upload each, a
# tracker, one unshaped client node in which each tool runs.
SWARM_MIRRORS=(1000 500 250 250)
SEED_KBPS="${PACTOR_BENCH_SEED_KBPS:-4000}"
scenario_swarm() {
    local set=big sc=swarm i
    local mirror_total=0
    for i in "${SWARM_MIRRORS[@]}"; do mirror_total=$((mirror_total + i)); done
    local limit_k=$((mirror_total + 3 * SEED_KBPS))
    LIMIT[$sc]="$(awk -v k="$limit_k" 'BEGIN { printf "%g", k / 1000 }')"
    hub_up
    local addrs=()
    for i in 0 1 2 3; do
        hub_node "m$i" $((10 + i)) "${SWARM_MIRRORS[$i]}" 0
        addrs+=("$HNET.$((10 + i))")
    done
    hub_node tr 20 0 0
    for i in 0 1 2; do hub_node "s$i" $((30 + i)) "$SEED_KBPS" 0; done
    hub_node c 50 0 0
    hub_torrents "$set" "$HNET.20" "${addrs[@]}"
    hub_tracker "$(hub_ns tr)" "$HNET.20" "$set"
    MIRROR_LOGS=()
    for i in 0 1 2 3; do hub_nginx "sw$i" "$(hub_ns "m$i")" "${addrs[$i]}" "$SB/tree-$set"; done
    seed_transmission s0 "$HNET.30" "$set"
    seed_aria2 s1 "$HNET.31" "$set"
    seed_aria2 s2 "$HNET.32" "$set"
    SEEDERS=("s0 30 transmission" "s1 31 aria2c" "s2 32 aria2c")
    say "swarm: mirrors ${SWARM_MIRRORS[*]} kB/s, added delay $DELAY; seeders transmission-daemon, aria2c, aria2c at $SEED_KBPS kB/s upload each; opentracker; limit ${LIMIT[$sc]} MB/s; load $(cut -d' ' -f1-3 /proc/loadavg)"
    LOADS+=("$sc: $(cut -d' ' -f1-3 /proc/loadavg)")
    mapfile -t hashes <"$SB/$set.hashes"
    ip netns exec "$(hub_ns c)" timeout 120 python3 "$ROOT/scripts/bench/bt.py" wait-seeds \
        "http://$HNET.20:$TRACKER_PORT" 3 90 "${hashes[@]}" || die "the seeders did not all announce"
    SERVERS=()
    for i in "${addrs[@]}"; do SERVERS+=("http://$i:$PORT"); done
    RUN_NS=(ip netns exec "$(hub_ns c)") SWARM=1
    local run tool
    for ((run = 1; run <= runs; run++)); do
        for tool in pactor pacman aria2c; do run_tool "$sc" "$set" "$tool" "$run"; done
    done
    RUN_NS=() SWARM=0 SEEDERS=()
    hub_hold
    hub_teardown
}

# --- patch day ---------------------------------------------------------------
# One mirror (PD_MIRROR_KBPS, plus opentracker in its namespace) and eight
# clients, each on its own line (PD_DOWN_KBPS down, PD_UP_KBPS up). First one
# client alone, then all eight at the same moment; per tool.
#
# PD_SEED=1 (the default; PACTOR_BENCH_PD_SEED=0 turns it off): a client that
# is done keeps seeding until the last one is done, as on a real patch day.
# Each pactor client namespace runs its own pactor-seed daemon (its own state
# and runtime directories, the client's pactor.conf and pacman.conf, as
# nobody); `pactor -Sxw` hands its download to it through the control socket
# and the daemon seeds the packages afterwards. aria2c clients seed on
# (--seed-time large, --seed-ratio=0.0); an aria2c client is done when
# --on-bt-download-complete fired for every torrent. When every client is
# done (or RUN_TIMEOUT passed) the daemons and aria2c processes are stopped
# by PID. A client's time is always its own download's end.
PD_CLIENTS="${PACTOR_BENCH_PD_CLIENTS:-8}"
PD_MIRROR_KBPS="${PACTOR_BENCH_PD_MIRROR_KBPS:-10000}"
PD_DOWN_KBPS="${PACTOR_BENCH_PD_DOWN_KBPS:-10000}"
PD_UP_KBPS="${PACTOR_BENCH_PD_UP_KBPS:-5000}"
PD_SEED="${PACTOR_BENCH_PD_SEED:-1}"
read -r -a PD_TOOLS <<<"${PACTOR_BENCH_PD_TOOLS:-pactor aria2c}"
PD_TABLE="$SB/patchday.tsv"

# pactor-seed for the client in ROOT, inside NS; its PID goes to seed_pid.
pd_seed_start() { # ns root
    local ns="$1" r="$2" n
    # the daemon reads the CacheDir from pacman.conf (pactor gets it on its
    # command line) and its [seed] section from pactor.conf beside it
    sed -i "/^\[options\]/a CacheDir = $r/cache/\nDBPath = $r/root/var/lib/pacman/" "$r/conf/pacman.conf"
    printf '\n[seed]\nRuntimeDir = %s\nStateDir = %s\nListenPort = %s\nDHT = no\nLSD = no\n' \
        "$r/seed-run" "$r/seed-state" "$BT_PORT" >>"$r/conf/pactor.conf"
    ip netns exec "$ns" timeout -k 5 "$((RUN_TIMEOUT + 60))" "$PACTOR_SEED" \
        --pacman-config "$r/conf/pacman.conf" run --user nobody </dev/null >/dev/null 2>"$r/seed.log" &
    local pid=$!
    server_pids+=("$pid")
    for n in $(seq 200); do
        [[ -S $r/seed-run/control.sock ]] && { seed_pid=$pid; return 0; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    tail -5 "$r/seed.log" >&2
    die "pactor-seed in $ns did not open its control socket"
}

pd_run() { # tool n run -> appends a row to PD_TABLE, prints per-client lines
    local tool="$1" n="$2" run="$3" set=pd k
    local go="$SB/pd/go" stop="$SB/pd/stop" pids=() daemons=()
    local ntorrents
    ntorrents="$(wc -l <"$SB/$set.names")"
    rm -f "$go" "$stop"
    for ((k = 0; k < n; k++)); do
        local r="$SB/pd/c$k"
        prepare_root "$r" "$set"
        mapfile -t cmd < <(tool_cmd "$tool" "$r" "$set")
        if ((PD_SEED)) && [[ $tool == pactor ]]; then
            pd_seed_start "$(hub_ns "c$k")" "$r"
            daemons+=("$seed_pid")
        fi
        {
            printf 'while [ ! -e %q ]; do sleep 0.005; done\n' "$go"
            if ((PD_SEED)) && [[ $tool == aria2c ]]; then
                # seed on until told to stop; done when every torrent's
                # download-complete hook ran
                printf '#!/bin/sh\ndate +%%s.%%N >>%q\n' "$r/done" >"$r/hook.sh"
                chmod +x "$r/hook.sh"
                local c=() w
                for w in "${cmd[@]}"; do [[ $w == --seed-time=0 ]] || c+=("$w"); done
                c+=(--seed-time="$((RUN_TIMEOUT / 60 + 5))" --seed-ratio=0.0 --on-bt-download-complete="$r/hook.sh")
                printf '%q ' "${c[@]}"
                printf '>%q 2>&1 &\na=$!\n' "$r/out.log"
                printf 'while [ "$(cat %q 2>/dev/null | wc -l)" -lt %d ] && kill -0 $a 2>/dev/null; do sleep 0.02; done\n' \
                    "$r/done" "$ntorrents"
                printf 'if [ "$(cat %q 2>/dev/null | wc -l)" -ge %d ]; then sort -n %q | tail -1 >%q; echo 0 >%q; else date +%%s.%%N >%q; echo 1 >%q; fi\n' \
                    "$r/done" "$ntorrents" "$r/done" "$r/t1" "$r/rc" "$r/t1" "$r/rc"
                printf 'while [ ! -e %q ] && kill -0 $a 2>/dev/null; do sleep 0.1; done\n' "$stop"
                printf 'kill $a 2>/dev/null; wait $a\n'
            else
                printf 'rc=0; '
                printf '%q ' "${cmd[@]}"
                printf '>%q 2>&1 || rc=$?\n' "$r/out.log"
                printf 'date +%%s.%%N >%q; echo $rc >%q\n' "$r/t1" "$r/rc"
            fi
        } >"$r/run.sh"
        ip netns exec "$(hub_ns "c$k")" timeout -k 5 "$RUN_TIMEOUT" bash "$r/run.sh" &
        pids+=($!)
    done
    local mark t0 links_pid devs=()
    mark="$(log_mark)"
    # the links' byte counters over the run (scripts/bench/links.py)
    for ((k = 0; k < n; k++)); do devs+=("${TAG}b$((40 + k))"); done
    ip netns exec "$HUB" timeout -k 5 "$((RUN_TIMEOUT + 30))" python3 "$ROOT/scripts/bench/links.py" \
        "$go" "$stop" "$PD_UP_KBPS" "${TAG}b10" "${devs[@]}" >"$SB/pd/links.txt" 2>&1 &
    links_pid=$!
    sleep 1 # every client waits at the barrier
    t0="$(date +%s.%N)"
    touch "$go"
    # until every client is done (those done seed meanwhile), bounded
    local end=$((SECONDS + RUN_TIMEOUT + 5)) all
    while ((SECONDS < end)); do
        all=1
        for ((k = 0; k < n; k++)); do [[ -s $SB/pd/c$k/rc ]] || all=0; done
        ((all)) && break
        sleep 0.1
    done
    touch "$stop"
    wait "$links_pid" 2>/dev/null || true
    for k in "${pids[@]}"; do wait "$k" 2>/dev/null || true; done
    if [[ ${PACTOR_BENCH_DEBUG:-0} == 1 ]] && ((${#daemons[@]})); then
        # what each daemon's session sent and received (librqbit's payload
        # counters), beside the bytes that were of use
        for ((k = 0; k < n; k++)); do
            ip netns exec "$(hub_ns "c$k")" timeout 10 "$PACTOR_SEED" --pacman-config "$SB/pd/c$k/conf/pacman.conf" \
                status --json >"$SB/pd/c$k/status.json" 2>/dev/null || true
        done
        python3 - "$SB"/pd/c*/status.json <<'PY'
import json, sys
up = down = 0
for p in sys.argv[1:]:
    try:
        s = json.load(open(p))
    except (OSError, ValueError):
        continue
    up += s["uploaded"]; down += s["downloaded"]
print(f"    sessions' payload counters: {up / 1e6:.0f} MB sent to peers, {down / 1e6:.0f} MB received from peers and webseeds")
PY
    fi
    for k in "${daemons[@]}"; do kill "$k" 2>/dev/null || true; done
    for k in "${daemons[@]}"; do wait "$k" 2>/dev/null || true; done
    local bytes served times=() ok=0 peers=0 mirrors=0 p m
    served="$(log_bytes "$mark")"
    bytes="$(cut -d' ' -f3 "$SB/$set.sha256" | (cd "$SB/tree-$set/$REPO/os/$ARCH" && xargs du -cb) | tail -1 | cut -f1)"
    for ((k = 0; k < n; k++)); do
        local r="$SB/pd/c$k" t="FAIL"
        if [[ -s $r/rc && $(cat "$r/rc") == 0 ]] && verify "$set" "$r/cache" >/dev/null; then
            t="$(awk -v a="$t0" -v b="$(cat "$r/t1")" 'BEGIN { printf "%.2f", b - a }')"
            ok=$((ok + 1))
        else
            printf '    client %d failed (exit %s); last output:\n' "$k" "$(cat "$r/rc" 2>/dev/null || echo timeout)"
            tail -3 "$r/out.log" 2>/dev/null | sed 's/^/      /'
        fi
        times+=("$t")
        # the logs, kept for a look (--keep) after the next run reuses $r
        mkdir -p "$SB/pd/logs"
        for p in out seed; do
            [[ -e $r/$p.log ]] && cp "$r/$p.log" "$SB/pd/logs/$tool-$PD_SEED-$n-$run-c$k.$p.log"
        done
        if [[ $tool == pactor ]]; then
            read -r p m < <(pactor_summary "$r/out.log")
            [[ $p != - ]] && peers="$(awk -v a="$peers" -v b="$p" 'BEGIN { print a + b }')"
            [[ $m != - ]] && mirrors="$(awk -v a="$mirrors" -v b="$m" 'BEGIN { print a + b }')"
        fi
    done
    local extra="" label="$tool"
    ((PD_SEED)) && label="$tool+seed"
    [[ $tool == pactor ]] && extra="; pactor's summaries: ${peers} MiB from peers, ${mirrors} MiB from mirrors"
    printf '  %-12s %d client(s) run %d: %s s; mirror sent %s bytes = %s copies%s\n' "$label" "$n" "$run" \
        "${times[*]}" "$served" "$(awk -v a="$served" -v b="$bytes" 'BEGIN { printf "%.2f", a / b }')" "$extra"
    ((n > 1)) && cat "$SB/pd/links.txt"
    cp "$SB/pd/links.txt" "$SB/pd/logs/$tool-$PD_SEED-$n-$run.links.txt"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$n" "$run" "$bytes" "$served" "$ok" "${times[*]}" \
        "$peers/$mirrors" >>"$PD_TABLE"
}

scenario_patchday() {
    local set=pd k
    hub_up
    hub_node m 10 "$PD_MIRROR_KBPS" 0
    for ((k = 0; k < PD_CLIENTS; k++)); do hub_node "c$k" $((40 + k)) "$PD_UP_KBPS" "$PD_DOWN_KBPS"; done
    hub_torrents "$set" "$HNET.10" "$HNET.10"
    hub_tracker "$(hub_ns m)" "$HNET.10" "$set"
    MIRROR_LOGS=()
    hub_nginx pd "$(hub_ns m)" "$HNET.10" "$SB/tree-$set"
    SERVERS=("http://$HNET.10:$PORT")
    SWARM=1
    mkdir -p "$SB/pd"
    : >"$PD_TABLE"
    local seeding="clients that are done seed until the last is done (pactor-seed / aria2c --seed-time)"
    ((PD_SEED)) || seeding="clients stop when done"
    say "patch-day: one mirror at $PD_MIRROR_KBPS kB/s (+ opentracker), added delay $DELAY; $PD_CLIENTS clients at $PD_DOWN_KBPS kB/s down / $PD_UP_KBPS kB/s up each; $seeding; load $(cut -d' ' -f1-3 /proc/loadavg)"
    LOADS+=("patch-day: $(cut -d' ' -f1-3 /proc/loadavg)")
    local tool run
    for tool in "${PD_TOOLS[@]}"; do
        for ((run = 1; run <= runs; run++)); do
            pd_run "$tool" 1 "$run"
            pd_run "$tool" "$PD_CLIENTS" "$run"
        done
    done
    SWARM=0
    hub_hold
    hub_teardown
}

pd_report() {
    [[ -s $PD_TABLE ]] || return 0
    local agg_limit=$((PD_MIRROR_KBPS + PD_CLIENTS * PD_UP_KBPS))
    ((agg_limit > PD_CLIENTS * PD_DOWN_KBPS)) && agg_limit=$((PD_CLIENTS * PD_DOWN_KBPS))
    local one_limit=$PD_MIRROR_KBPS
    ((one_limit > PD_DOWN_KBPS)) && one_limit=$PD_DOWN_KBPS
    say "patch day ($PD_CLIENTS clients, mirror $PD_MIRROR_KBPS kB/s, lines $PD_DOWN_KBPS down / $PD_UP_KBPS up kB/s; copies = package bytes the mirror sent / package set; limit = min(clients x down, mirror + clients x up))"
    python3 - "$PD_TABLE" "$one_limit" "$agg_limit" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
one_limit, agg_limit = float(sys.argv[2]) / 1000, float(sys.argv[3]) / 1000
print("| tool | clients | run | done | median s | last s | median / alone | mirror copies | aggregate MB/s | of limit | peers/mirrors MiB (pactor) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
alone = {}
for tool, n, run, size, served, ok, times, pm in rows:
    n, size, served, ok = int(n), int(size), int(served), int(ok)
    t = [float(x) for x in times.split() if x != "FAIL"]
    if not t:
        print(f"| {tool} | {n} | {run} | 0/{n} | FAIL | | | {served/size:.2f} | | | |")
        continue
    med, last = statistics.median(t), max(t)
    if n == 1:
        alone[(tool, run)] = med
    ratio = f"{med / alone[(tool, run)]:.2f}" if n > 1 and (tool, run) in alone else ""
    agg = ok * size / last / 1e6
    lim = one_limit if n == 1 else agg_limit
    pm = pm if tool.startswith("pactor") else ""
    print(f"| {tool} | {n} | {run} | {ok}/{n} | {med:.2f} | {last:.2f} | {ratio} | {served/size:.2f} | {agg:.2f} | {agg/lim:.0%} of {lim:g} | {pm} |")
PY
}
