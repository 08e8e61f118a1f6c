"""A business system's webhook receiver, run as its own process by the tests.

    python tests/support/receiver.py --key <hex> [--port 0] [--mode ok|fail500|fail400|slow]

It prints "PORT <n>" once it listens. For every POST it checks X-Tenohira-Signature
(HMAC-SHA256 with the key over "<timestamp>.<body>") and the timestamp (±300 s), counts
the attempt, and accepts each X-Tenohira-Delivery once (a repeat is answered 200 and
counted as a duplicate, not accepted again), as a real receiver must.

Control (from the test, same port): POST /_mode with a body ok | fail500 | fail400 | slow;
GET /_state answers {"accepted": {delivery id: document}, "attempts": {id: n},
"duplicates": n, "bad_signatures": n}.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"accepted": {}, "attempts": {}, "duplicates": 0, "bad_signatures": 0, "mode": "ok"}
KEY = b""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm and the
    # client's delayed ACK hold every answer on a kept-alive connection about 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *args):  # quiet: the test reads /_state
        pass

    def _answer(self, code: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8"):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_state":
            with LOCK:
                body = json.dumps(STATE, ensure_ascii=False).encode()
            return self._answer(200, body, "application/json")
        return self._answer(404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_mode":
            with LOCK:
                STATE["mode"] = body.decode().strip()
            return self._answer(200, b"ok")
        delivery = self.headers.get("X-Tenohira-Delivery", "")
        timestamp = self.headers.get("X-Tenohira-Timestamp", "")
        signature = self.headers.get("X-Tenohira-Signature", "")
        expected = "sha256=" + hmac.new(KEY, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
        with LOCK:
            mode = STATE["mode"]
            STATE["attempts"][delivery] = STATE["attempts"].get(delivery, 0) + 1
            if not delivery or not fresh or not hmac.compare_digest(expected, signature):
                STATE["bad_signatures"] += 1
                bad = True
            else:
                bad = False
        if bad:
            return self._answer(401, "署名が正しくありません".encode())
        if mode == "fail500":
            return self._answer(503, b"maintenance")
        if mode == "fail400":
            return self._answer(400, "項目「氏名」がありません".encode())
        if mode == "slow":
            time.sleep(5)
        with LOCK:
            if delivery in STATE["accepted"]:
                STATE["duplicates"] += 1
            else:
                STATE["accepted"][delivery] = json.loads(body)
        return self._answer(200, b"accepted")


def main() -> None:
    global KEY
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", default="ok")
    args = parser.parse_args()
    KEY = bytes.fromhex(args.key)
    STATE["mode"] = args.mode
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
