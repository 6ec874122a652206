"""[[ appName ]]: a small HTTP service on the standard library."""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


def respond(path):
    """Status code and body for a request path."""
    if path == "/":
        return 200, json.dumps({"service": "[[ appName ]]", "status": "ok"})
    if path == "/healthz":
        return 200, "ok"
    return 404, "not found"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        status, body = respond(self.path)
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    port = int(os.environ.get("PORT", "[[ port ]]"))
    print(f"[[ appName ]] listening on :{port}", flush=True)
    HTTPServer(("0.0.0.0", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
