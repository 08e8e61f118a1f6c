"""`tenohira demo` runs the stand-in for デジタル認証アプリ beside the web server, registered
as the My Number card provider, and stops it with the demo."""

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time

import requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(path, text, process, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(encoding="utf-8", errors="replace"):
            return
        assert process.poll() is None, path.read_text(encoding="utf-8", errors="replace")[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"{text!r} never appeared")


def test_the_demo_starts_the_identity_provider_stand_in_and_signs_in_through_it(tmp_path):
    port, idp_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items()
                   if k not in {"DATABASE_URL", "TENOHIRA_DEMO", "SITE_URL", "DJANGO_SETTINGS_MODULE"}
                   and not k.startswith("MYNUMBER_CARD_")}
    data = tmp_path / "data"
    environment["TENOHIRA_DATA_DIR"] = str(data)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        demo = subprocess.Popen(
            [sys.executable, "-c", "from tenohira.cli import main; main()", "demo", "--port", str(port),
             "--idp-port", str(idp_port)],
            env=environment, stdout=stdout, stderr=stderr,
        )
    site, idp = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{idp_port}"
    try:
        wait_for(out, "Ctrl+C", demo)
        banner = out.read_text(encoding="utf-8")
        assert f"{idp}/" in banner and "1234" in banner and "ABC123" in banner and "本物ではありません" in banner
        discovery = requests.get(f"{idp}/.well-known/openid-configuration", timeout=10).json()
        assert discovery["issuer"] == idp
        key = data / "mynumber-card-client.key.pem"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert (data / "identity-provider" / "root.pem").exists()

        session = requests.Session()
        deadline = time.monotonic() + 60
        while True:
            try:
                page = session.get(f"{site}/identity/sign-in/?level=card_signin&next=/mypage/", timeout=10)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.5)
        assert "（デモ用の代替サービス）" in page.text
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        action = re.search(r'action="(/identity/sign-in/mynumber_card/start/[^"]*)"', page.text).group(1)
        started = session.post(f"{site}{action.replace('&amp;', '&')}", data={"csrfmiddlewaretoken": csrf,
                               "next": "/mypage/"}, headers={"Referer": f"{site}/"}, allow_redirects=False)
        assert started.status_code == 302 and started.headers["Location"].startswith(f"{idp}/auth?")
        login = session.post(started.headers["Location"], data={"resident": "r001", "pin": "1234", "action": "login"},
                             allow_redirects=False)
        assert login.headers["Location"].startswith(f"{site}/identity/callback/mynumber_card/?code=")
        landed = session.get(login.headers["Location"], timeout=10)
        assert landed.status_code == 200 and landed.url == f"{site}/mypage/"
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)
    # The stand-in stops with the demo.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            requests.get(f"{idp}/healthz", timeout=1)
        except requests.ConnectionError:
            break
        time.sleep(0.3)
    else:
        raise AssertionError("the stand-in outlived the demo")
