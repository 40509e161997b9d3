"""Small BitTorrent helpers for bench-x.sh (standard library only).

    python3 bt.py infohash FILE.torrent...          one hex infohash a line
    python3 bt.py wait-seeds TRACKER N TIMEOUT HASH...
        scrape TRACKER (http://host:port) until every HASH counts at least N
        seeders; exit 1 after TIMEOUT seconds, naming the hashes short of N
"""
import hashlib
import re
import sys
import time
import urllib.request


def bdecode_span(b, i):
    """End offset of the bencoded value starting at b[i]."""
    c = b[i : i + 1]
    if c == b"i":
        return b.index(b"e", i) + 1
    if c in (b"l", b"d"):
        i += 1
        while b[i : i + 1] != b"e":
            i = bdecode_span(b, i)
        return i + 1
    colon = b.index(b":", i)
    return colon + 1 + int(b[i:colon])


def infohash(path):
    b = open(path, "rb").read()
    if b[:1] != b"d":
        raise SystemExit(f"{path}: not a torrent")
    i = 1
    while b[i : i + 1] != b"e":
        colon = b.index(b":", i)
        key_end = colon + 1 + int(b[i:colon])
        key = b[colon + 1 : key_end]
        end = bdecode_span(b, key_end)
        if key == b"info":
            return hashlib.sha1(b[key_end:end]).hexdigest()
        i = end
    raise SystemExit(f"{path}: no info dictionary")


def seeders(tracker, h):
    q = "".join(f"%{h[k:k + 2]}" for k in range(0, 40, 2))
    try:
        with urllib.request.urlopen(f"{tracker}/scrape?info_hash={q}", timeout=2) as r:
            body = r.read()
    except OSError:
        return 0
    m = re.search(rb"8:completei(\d+)e", body)
    return int(m.group(1)) if m else 0


def main():
    if sys.argv[1] == "infohash":
        for p in sys.argv[2:]:
            print(infohash(p))
    elif sys.argv[1] == "wait-seeds":
        tracker, n, timeout, hashes = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5:]
        deadline = time.monotonic() + timeout
        while True:
            short = [h for h in hashes if seeders(tracker, h) < n]
            if not short:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"fewer than {n} seeders after {timeout:.0f} s for {len(short)} of {len(hashes)} torrents")
            time.sleep(0.3)
    else:
        raise SystemExit(__doc__)


main()
