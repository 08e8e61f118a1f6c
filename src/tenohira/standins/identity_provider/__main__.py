"""`python -m tenohira.standins.identity_provider`: serve the stand-in until stopped."""

import argparse
import json
import signal
import sys
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import build_app

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class PathOnlyLog(WSGIRequestHandler):
    """Log the method, path and status only: query strings carry codes, states and
    request ids, which stay out of logs."""

    def log_request(self, code="-", size="-"):
        path = self.path.split("?", 1)[0]
        self.log("info", '"%s %s" %s', self.command, path, getattr(code, "value", code))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tenohira.standins.identity_provider",
        description="デジタル認証アプリのデモ用の代替サービス（本物ではありません）",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0: the system picks a free port")
    parser.add_argument("--state-dir", required=True, type=Path, help="keys, certificates and the CRL")
    parser.add_argument("--clients", type=Path, help='JSON list: [{"client_id", "redirect_uris", "jwks" | "client_secret"}]')
    args = parser.parse_args(argv)

    clients = json.loads(args.clients.read_text(encoding="utf-8")) if args.clients else []
    # Bind first: with --port 0 the issuer can only be named once the port is known.
    server = make_server(args.host, args.port, app=None, threaded=True, request_handler=PathOnlyLog)
    issuer = f"http://{args.host}:{server.server_port}"
    # Fault injection and runtime client registration are for tests on this machine only.
    server.app = build_app(issuer, args.state_dir, clients, controls=args.host in LOOPBACK)

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"ready {issuer}", flush=True)  # noqa: T201 (the line a parent process waits for)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
