#!/usr/bin/env python3
"""A tiny webhook receiver for the demo: logs every request Meshes (here: meshes-emulator)
delivers, with the event name and whether its X-Meshes-Signature HMAC is valid.

Usage: receiver.py --port-file FILE [--host 127.0.0.1] [--port 0]
The HMAC-SHA256 signing secret comes from the environment (DEMO_SIGNING_SECRET), not argv, so
it does not show up in `ps`. The port actually bound is written to --port-file once listening
(binding port 0 in-process avoids the race of picking a free port first). One line per request
goes to stdout, e.g.:
  POST /meshes event=user.signup uuid=... signature=valid
A request with a missing or wrong signature is logged as signature=INVALID and answered 401.
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ.get("DEMO_SIGNING_SECRET", "").encode()


def log(line):
    print(line, flush=True)


class Handler(BaseHTTPRequestHandler):
    server_version = "meshes-demo-receiver/1"

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        sig = self.headers.get("X-Meshes-Signature", "")
        if not SECRET:
            verdict = "unchecked(no DEMO_SIGNING_SECRET)"
        else:
            expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
            verdict = "valid" if hmac.compare_digest(sig, expected) else "INVALID"
        try:
            doc = json.loads(body or b"null")
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            event = doc.get("event") or self.headers.get("X-Meshes-Event", "?")
            uuid = doc.get("uuid") or self.headers.get("X-Meshes-Event-Id", "?")
            payload = json.dumps(doc.get("payload"), separators=(",", ":"))
        else:
            event = self.headers.get("X-Meshes-Event", "?")
            uuid = self.headers.get("X-Meshes-Event-Id", "?")
            payload = "?"
        log(
            f"{self.command} {self.path} event={event} uuid={uuid} "
            f"signature={verdict} payload={payload}"
        )
        ok = verdict != "INVALID"
        self.send_response(200 if ok else 401)
        reply = b'{"ok":true}' if ok else b'{"ok":false,"error":"bad signature"}'
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_POST = _handle
    do_PUT = _handle
    do_PATCH = _handle

    def do_GET(self):
        # Liveness probe for the demo script.
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        # The one-line-per-request log above replaces http.server's access log.
        pass


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    a = p.parse_args()
    srv = HTTPServer((a.host, a.port), Handler)
    port = srv.server_address[1]
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, a.port_file)
    log(f"receiver listening on http://{a.host}:{port}/")
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
