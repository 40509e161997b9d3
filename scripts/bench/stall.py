"""A mirror that stops sending: serves files from ROOT (Range aware), but each
response delivers at most STALL_AFTER body bytes and then holds the connection
open, silent, for HOLD seconds. Bounded: exits after LIFETIME seconds.

    python3 stall.py ROOT ADDR PORT [STALL_AFTER=1048576] [HOLD=120] [LIFETIME=900]
"""
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

root, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
stall_after = int(sys.argv[4]) if len(sys.argv) > 4 else 1 << 20
hold = float(sys.argv[5]) if len(sys.argv) > 5 else 120
lifetime = float(sys.argv[6]) if len(sys.argv) > 6 else 900


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_HEAD(self):
        self.serve(False)

    def do_GET(self):
        self.serve(True)

    def serve(self, body):
        path = os.path.realpath(os.path.join(root, self.path.split("?")[0].lstrip("/")))
        if not path.startswith(os.path.realpath(root)) or not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = os.path.getsize(path)
        start, end = 0, size - 1
        m = re.match(r"bytes=(\d*)-(\d*)$", self.headers.get("Range", ""))
        if m and (m.group(1) or m.group(2)):
            if m.group(1):
                start = int(m.group(1))
                if m.group(2):
                    end = min(int(m.group(2)), size - 1)
            else:
                start = max(0, size - int(m.group(2)))
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        length = end - start + 1
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if not body:
            return
        with open(path, "rb") as f:
            f.seek(start)
            todo = min(length, stall_after)
            while todo > 0:
                chunk = f.read(min(65536, todo))
                if not chunk:
                    break
                self.wfile.write(chunk)
                todo -= len(chunk)
            self.wfile.flush()
        if length > stall_after:
            time.sleep(hold)  # the mirror goes silent
            self.close_connection = True


srv = ThreadingHTTPServer((addr, port), Handler)
srv.daemon_threads = True
threading.Timer(lifetime, lambda: os._exit(0)).start()
srv.serve_forever()
