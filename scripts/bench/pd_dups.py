#!/usr/bin/env python3
"""Where a patch-day run's extra mirror bytes went.

Reads the hub mirror's access log (scripts/bench/hub.sh logs, per request:
uri, status, body bytes, client address, end time, seconds taken, Range) of
a kept sandbox (`scripts/bench-x.sh --keep ... patch-day`) and, for every
run of several clients, prints the bytes the mirror sent, how many of them
it had sent before (to any client), by the time the request started, and per
client and package the ones that took more than `--over` MB.

  scripts/bench/pd_dups.py SANDBOX/nginx-pd/access.log [--over 4]
"""
import argparse
import collections
import re

PKG = re.compile(r"\.pkg\.tar\.[a-z0-9]+$")
RANGE = re.compile(r"bytes=(\d+)-")
EDGES = [0.25, 0.5, 1, 2, 4, 8, float("inf")]


def requests(path):
    out = []
    for line in open(path):
        f = line.split()
        if len(f) < 7 or not PKG.search(f[0]):
            continue
        sent, end, took = int(f[2]), float(f[4]), float(f[5])
        m = RANGE.match(" ".join(f[6:]).strip('"'))
        start = int(m.group(1)) if m else 0
        out.append(dict(file=f[0].rsplit("/", 1)[-1], client=f[3], t=end - took,
                        end=end, a=start, b=start + sent, sent=sent))
    return sorted(out, key=lambda r: r["t"])


def runs(reqs, gap=2.0, tail=8.0):
    """Requests split where the mirror was idle for `gap` s; only runs of
    several clients (the one-client runs are the reference). The mirror
    may idle for seconds before a run's last requests: a part within
    `tail` s whose clients (several) all took part in the run before it
    belongs to that run."""
    parts, cur, last = [], [], 0.0
    for r in reqs:
        if cur and r["t"] - last > gap:
            parts.append(cur)
            cur = []
        cur.append(r)
        last = max(last, r["end"])
    parts.append(cur)
    out = []
    for part in parts:
        clients = {r["client"] for r in part}
        if len(clients) < 2:
            continue
        prev = out[-1] if out else None
        if (prev and clients <= {r["client"] for r in prev}
                and part[0]["t"] - max(r["end"] for r in prev) < tail):
            prev.extend(part)
        else:
            out.append(part)
    return out


def overlap_then_add(spans, a, b):
    """Bytes of a..b already in `spans` (sorted, disjoint); then adds a..b."""
    seen = sum(max(0, min(b, y) - max(a, x)) for x, y in spans)
    spans.append((a, b))
    spans.sort()
    merged = []
    for x, y in spans:
        if merged and x <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], y))
        else:
            merged.append((x, y))
    spans[:] = merged
    return seen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--over", type=float, default=4.0,
                    help="list client/package pairs that took more than this many MB")
    args = ap.parse_args()
    for n, run in enumerate(runs(requests(args.log)), 1):
        t0 = run[0]["t"]
        spans = collections.defaultdict(list)
        by_time = [[0, 0] for _ in EDGES]
        pairs = collections.defaultdict(lambda: [0, 0])
        for r in run:
            again = overlap_then_add(spans[r["file"]], r["a"], r["b"])
            i = next(i for i, e in enumerate(EDGES) if r["t"] - t0 < e)
            by_time[i][0] += r["sent"]
            by_time[i][1] += again
            pairs[(r["client"], r["file"])][0] += r["sent"]
            pairs[(r["client"], r["file"])][1] += again
        size = sum(s[-1][1] for s in spans.values())
        sent = sum(r["sent"] for r in run)
        again = sum(x[1] for x in by_time)
        print(f"run {n}: {len({r['client'] for r in run})} clients, mirror sent {sent / 1e6:.1f} MB"
              f" = {sent / size:.2f} copies, {again / 1e6:.1f} MB of it sent before")
        lo = 0
        for e, (s, d) in zip(EDGES, by_time):
            print(f"  requests from {lo:>4} s to {e:>4} s: {s / 1e6:6.1f} MB, {d / 1e6:5.1f} MB sent before")
            lo = e
        for (client, file), (s, d) in sorted(pairs.items()):
            if s > args.over * 1e6:
                print(f"  client {client} took {s / 1e6:.1f} MB of {file} ({d / 1e6:.1f} MB sent before)")


if __name__ == "__main__":
    main()
