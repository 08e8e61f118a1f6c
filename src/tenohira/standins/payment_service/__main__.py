"""`python -m tenohira.standins.payment_service`: serve the stand-in until stopped."""

import argparse
import os
import signal
import sys
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import build_app

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class PathOnlyLog(WSGIRequestHandler):
    """Log the method, path and status only: query strings stay out of the log."""

    def log_request(self, code="-", size="-"):
        path = self.path.split("?", 1)[0]
        self.log("info", '"%s %s" %s', self.command, path, getattr(code, "value", code))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tenohira.standins.payment_service",
        description="デモ用の決済サービス（本物ではありません）: Stripe の API の一部を話す代替サービス",
    )
    parser.add_argument("--host", default=os.environ.get("PAYMENT_STANDIN_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PAYMENT_STANDIN_PORT", "8002")),
                        help="0: the system picks a free port")
    parser.add_argument("--secret-key", default=os.environ.get("PAYMENT_STANDIN_SECRET_KEY", ""),
                        help="the API key callers must send as a Bearer token")
    parser.add_argument("--webhook-secret", default=os.environ.get("PAYMENT_STANDIN_WEBHOOK_SECRET", ""),
                        help="the key webhooks are signed with (Stripe-Signature)")
    parser.add_argument("--webhook-url", default=os.environ.get("PAYMENT_STANDIN_WEBHOOK_URL", ""),
                        help="where events are sent (empty: nowhere until set through /_control)")
    parser.add_argument("--state-file", type=Path, default=os.environ.get("PAYMENT_STANDIN_STATE_FILE") or None,
                        help="JSON file keeping sessions across restarts (default: memory only)")
    args = parser.parse_args(argv)
    if not args.secret_key or not args.webhook_secret:
        parser.error("--secret-key and --webhook-secret are required (or PAYMENT_STANDIN_SECRET_KEY / _WEBHOOK_SECRET)")

    # Bind first: with --port 0 the base URL (hosted page addresses) is known only now.
    server = make_server(args.host, args.port, app=None, threaded=True, request_handler=PathOnlyLog)
    base_url = f"http://{args.host}:{server.server_port}"
    # The control API (decline, delays, duplicates) answers only on a loopback address.
    app = build_app(base_url, secret_key=args.secret_key, webhook_secret=args.webhook_secret,
                    webhook_url=args.webhook_url, state_file=args.state_file, controls=args.host in LOOPBACK)
    server.app = app

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"ready {base_url}", flush=True)  # noqa: T201 (the line a parent process waits for)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        app.config["SERVICE"].close()
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
