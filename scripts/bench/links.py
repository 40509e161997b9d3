"""Link timeline of a patch-day run: samples the byte counters of the hub's
ends of the veths (run inside the hub namespace, so /sys/class/net is the
hub's) every 0.1 s from when GO exists until STOP exists or LIFETIME passes, then
prints one line per SLOT seconds: the mirror's upload, the clients' uploads
together (what peers send each other) and their downloads together, in MB/s
(10^6 bytes), and how much of the clients' upload capacity was used.

    python3 links.py GO STOP UP_KBPS MIRROR_DEV CLIENT_DEV... [--slot S]

On the hub's end, rx is what the node sent (its upload), tx what it got.
"""
import os
import sys
import time

args = sys.argv[1:]
slot = 1.0
if "--slot" in args:
    i = args.index("--slot")
    slot = float(args[i + 1])
    del args[i : i + 2]
go, stop, up_kbps, mirror, clients = args[0], args[1], float(args[2]), args[3], args[4:]
interval, lifetime = 0.1, 600.0

begin = time.monotonic()
while not os.path.exists(go) and time.monotonic() - begin < lifetime:
    time.sleep(0.002)


def read(dev, what):
    with open(f"/sys/class/net/{dev}/statistics/{what}_bytes") as f:
        return int(f.read())


def sample():
    return (
        time.monotonic(),
        read(mirror, "rx"),
        sum(read(c, "rx") for c in clients),
        sum(read(c, "tx") for c in clients),
    )


samples = [sample()]
t0 = samples[0][0]
while not os.path.exists(stop) and time.monotonic() - t0 < lifetime:
    time.sleep(interval)
    samples.append(sample())

cap = up_kbps * 1000 * len(clients) / 1e6
print(f"    links (MB/s per {slot:g} s; clients' upload capacity {cap:g} MB/s):")
print("      t s    mirror  peers-up  clients-down  up-used")
used_total = 0.0
span_total = 0.0
start = samples[0]
for s in samples[1:]:
    if s[0] - start[0] < slot - 1e-6 and s is not samples[-1]:
        continue
    dt = s[0] - start[0]
    if dt <= 0:
        continue
    m, u, d = ((s[i] - start[i]) / dt / 1e6 for i in (1, 2, 3))
    print(f"    {s[0] - t0:6.1f}  {m:7.2f}  {u:8.2f}  {d:12.2f}  {u / cap:6.0%}")
    used_total += u * dt
    span_total += dt
    start = s
if span_total:
    print(f"    clients' upload over the run: {used_total / span_total:.2f} MB/s = {used_total / span_total / cap:.0%} of capacity")
