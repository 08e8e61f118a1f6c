"""A stand-in for the Digital Agency's デジタル認証アプリ (My Number card sign-in and signing).

Run it as its own process::

    python -m tenohira.standins.identity_provider --host 127.0.0.1 --port 8001 \\
        --state-dir DIR --clients clients.json

The issuer is `http://host:port`. It prints one line, `ready <issuer>`, once it accepts
connections (with `--port 0` the system picks a free port, which that line names).
See `app.py` for the endpoints and `ca.py` for the test certificate authority.
"""
