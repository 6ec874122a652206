#!/usr/bin/env python3
"""A static file server for a dtm plugin registry directory, with fault injection, for tests.

Usage: registry-test-server.py DIR
Binds 127.0.0.1 on a free port and prints "PORT <n>" on the first line of stdout.

Besides serving DIR, it answers:
  GET /_stats                 JSON {"total": n, "paths": {path: count}} of file requests so far
  GET /_reset                 clears the counters and all faults
  GET /_fault?path=P&kind=K&times=N
                              the next N requests for P fail as K:
                                500 / 503 / 403 / 404  that status
                                truncate               announce the full length, send half, close
                                slow                   sleep 5 s before answering
                                reset                  close the connection without an answer
It exits when stdin closes, so a test that dies does not leave it running.
"""

import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.abspath(sys.argv[1])
LOCK = threading.Lock()
STATS = {}
FAULTS = {}  # path -> [kind, remaining]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_text(self, code, body, ctype="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        path = urllib.parse.unquote(url.path)
        if path == "/_stats":
            with LOCK:
                body = json.dumps({"total": sum(STATS.values()), "paths": STATS})
            return self.send_text(200, body)
        if path == "/_reset":
            with LOCK:
                STATS.clear()
                FAULTS.clear()
            return self.send_text(200, "{}")
        if path == "/_fault":
            q = urllib.parse.parse_qs(url.query)
            with LOCK:
                FAULTS[q["path"][0]] = [q["kind"][0], int(q.get("times", ["1"])[0])]
            return self.send_text(200, "{}")

        with LOCK:
            STATS[path] = STATS.get(path, 0) + 1
            fault = None
            f = FAULTS.get(path)
            if f and f[1] > 0:
                f[1] -= 1
                fault = f[0]

        full = os.path.abspath(os.path.join(ROOT, path.lstrip("/")))
        if not full.startswith(ROOT + os.sep) or not os.path.isfile(full):
            return self.send_text(404, "not found", "text/plain")
        if fault and fault.isdigit():
            return self.send_text(int(fault), "injected", "text/plain")
        if fault == "reset":
            self.close_connection = True
            self.connection.close()
            return
        if fault == "slow":
            time.sleep(5)
        with open(full, "rb") as fh:
            data = fh.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault == "truncate":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(data)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("PORT", server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()  # until the test closes our stdin (or dies)
    server.shutdown()


if __name__ == "__main__":
    main()
