"""Server CPU of signing in and of a prefilled start, next to an anonymous start.

    .venv/bin/python bench/identity_bench.py                  # a temporary SQLite database
    .venv/bin/python bench/identity_bench.py --db-url postgres://postgres@127.0.0.1:5432/tenohira_bench_identity
    .venv/bin/python bench/identity_bench.py --rounds 5 --n 300

Three things a resident's browser asks of the server, each timed as the CPU time of this
process (time.process_time: user + system CPU, not wall clock, so waiting for the database
server or the disk is not counted, and neither is anything else running on the machine; on
PostgreSQL the database server's own CPU is not in the figures, on SQLite the database
engine runs in this process and is):

  (a) anonymous start: GET /procedures/<code>/apply/ (the start page) and POST it
      (申請を始める: the draft is created), for a procedure that asks for no identity.
      This is the baseline the other two are divided by.
  (b) prefilled start: the same two requests by a resident signed in with the My Number
      card, for the same form on a procedure requiring card sign-in: the identity is
      checked, the four basic items fill the form's mapped fields and are stored on the
      draft with the evidence.
  (c) sign-in round trip, our side only: GET the sign-in page, POST its button (state,
      nonce and PKCE verifier made and kept, the redirect to the provider built), then
      GET the callback (the code exchanged with a signed client assertion —
      private_key_jwt —, the ID token's signature, issuer, audience, times and nonce
      checked, the user info read, the nonce recorded against replay, the account found
      and the session renewed). The provider is not run at all: its answers (discovery,
      JWKS, token, user info) come from an in-process fake at requests' transport adapter
      (no socket), the ID token for each round is signed before the timer starts, and the
      fake's own CPU while answering is measured and subtracted. What remains is the
      whole of our side, requests' own request/response handling included.

All three go through Django's full stack (middleware, sessions, CSRF, URL routing,
templates) by Django's test client in this process: there is no HTTP server, so the
figures are of the application, not of gunicorn. (The test client builds the WSGI request
as a server would; its share is the same in every line and so mostly cancels in the
ratios.) Rounds interleave (a), (b) and (c) so that the baseline is measured in the same
run under the same conditions; the median of the rounds is printed.

Figures are printed, never asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import io
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent

HOST = "localhost"
ISSUER = "https://card-idp.example"  # answered by the in-process fake; never resolved
CLIENT_ID = "tenohira-bench"
ANONYMOUS_CODE, CARD_CODE = "BIA", "BIC"
# A fictional resident as the card's provider would describe them (外字 and a long address).
CLAIMS = {
    "sub": "bench-pairwise-subject-0001",
    "name": "髙﨑 𠮷太郎",
    "address": "福島県郡山市朝日一丁目二十三番四十五号　サンプルマンション郡山朝日第二ハイツ１０２号室",
    "birthdate": "1985-10-23",
    "gender": "male",
}


# --- the fake provider, at requests' transport ---------------------------------------


class FakeProvider:
    """Answers the relying party's HTTP calls in-process, from prepared documents.

    Patches requests.adapters.HTTPAdapter.send for its lifetime: every request to ISSUER
    is answered here; any other request is refused (the bench must not reach out)."""

    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import rsa
        from joserfc.jwk import RSAKey

        self.key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.kid = self.key.thumbprint()
        self.discovery = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/auth",
            "token_endpoint": f"{ISSUER}/token",
            "userinfo_endpoint": f"{ISSUER}/userinfo",
            "jwks_uri": f"{ISSUER}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "name", "address", "birthdate", "gender"],
        }
        self.jwks = {"keys": [{**self.key.as_dict(private=False), "kid": self.kid, "use": "sig", "alg": "RS256"}]}
        self.pending_token: bytes | None = None
        self.cpu = 0.0  # the fake's own CPU while answering, subtracted from the timings
        self.calls: dict[str, int] = {}
        self._original = None

    def prepare_token(self, nonce: str) -> None:
        """The token response of the next exchange (the provider's work: not timed)."""
        from joserfc import jwt

        now = int(time.time())
        access_token = base64.urlsafe_b64encode(os.urandom(24)).decode()
        id_token = jwt.encode(
            {"alg": "RS256", "kid": self.kid},
            {"iss": ISSUER, "sub": CLAIMS["sub"], "aud": CLIENT_ID, "exp": now + 300, "iat": now,
             "auth_time": now, "nonce": nonce, "amr": ["hwk", "pin"]},
            self.key,
        )
        self.pending_token = json.dumps({"access_token": access_token, "token_type": "Bearer",
                                         "expires_in": 300, "id_token": id_token}).encode()

    def answer(self, request) -> tuple[int, bytes]:
        path = urlsplit(request.url).path
        self.calls[path] = self.calls.get(path, 0) + 1
        if path == "/.well-known/openid-configuration":
            return 200, json.dumps(self.discovery).encode()
        if path == "/jwks":
            return 200, json.dumps(self.jwks).encode()
        if path == "/token":
            body, self.pending_token = self.pending_token, None
            if body is None:
                return 400, b'{"error": "invalid_grant"}'
            return 200, body
        if path == "/userinfo":
            return 200, json.dumps(CLAIMS, ensure_ascii=False).encode()
        return 404, b'{"error": "not_found"}'

    def __enter__(self):
        import requests.adapters
        from urllib3.response import HTTPResponse

        fake = self
        self._original = original = requests.adapters.HTTPAdapter.send

        def send(adapter, request, **kwargs):
            if not request.url.startswith(ISSUER + "/"):
                return original(adapter, request, **kwargs)
            started = time.process_time()
            status, body = fake.answer(request)
            raw = HTTPResponse(body=io.BytesIO(body), headers={"Content-Type": "application/json",
                                                                "Content-Length": str(len(body))},
                               status=status, preload_content=False, decode_content=False)
            response = adapter.build_response(request, raw)
            fake.cpu += time.process_time() - started
            return response

        requests.adapters.HTTPAdapter.send = send
        return self

    def __exit__(self, *exc):
        import requests.adapters

        requests.adapters.HTTPAdapter.send = self._original


# --- the set-up ------------------------------------------------------------------------


def setup(db_url: str | None, workdir: Path):
    from _database import create_database, setup_django

    drop = None
    if db_url:
        drop = create_database(db_url)
    else:
        db_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    setup_django(str(workdir), db_url)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    return drop


def configure(workdir: Path) -> None:
    """The card's provider (the fake) and nothing else, as settings name it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.conf import settings

    key_file = workdir / "client-key.pem"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    settings.MYNUMBER_CARD_ISSUER = ISSUER
    settings.MYNUMBER_CARD_CLIENT_ID = CLIENT_ID
    settings.MYNUMBER_CARD_PRIVATE_KEY_FILE = str(key_file)
    settings.MYNUMBER_CARD_STANDIN = False
    settings.GBIZID_ISSUER = ""
    settings.IDENTITY_OIDC_PROVIDERS = []
    settings.ALLOWED_HOSTS = [HOST]


def publish_forms() -> None:
    """The 住民票 demo form, published twice: on a procedure that asks for no identity
    (the anonymous baseline) and on one that requires card sign-in (the prefilled start)."""
    import tenohira.forms
    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.forms.services import publish

    schema = json.loads((Path(tenohira.forms.__file__).resolve().parent / "demo" / "HJC.json").read_text("utf-8"))
    # The card's items fill the applicant's name, birth date and address (as the demo form
    # asks, or as it would: the mapping is added here when the form does not carry it).
    wanted = {"applicant_name": "name", "birth_date": "birthdate", "address": "address"}
    fields = [f for step in schema["steps"] for f in step["fields"]]
    if not any("prefill" in f for f in fields):
        for f in fields:
            if f["key"] in wanted:
                f["prefill"], f["prefill_locked"] = wanted[f["key"]], True
    department, _ = Department.objects.get_or_create(name="市民部")
    section, _ = Section.objects.get_or_create(department=department, name="市民課")
    for code, identity in ((ANONYMOUS_CODE, "none"), (CARD_CODE, "card_signin")):
        procedure = Procedure.objects.create(code=code, section=section, name=f"{schema['title']}（{code}）",
                                             identity=identity)
        publish(procedure, schema)


def card_identity() -> dict:
    """What a card sign-in leaves in the session (core.residents), for the prefilled start."""
    from tenohira.identity.models import Account

    account, _ = Account.objects.get_or_create(provider="mynumber_card", subject=CLAIMS["sub"],
                                               defaults={"display_name": CLAIMS["name"]})
    now = time.time()
    return {
        "account_id": account.pk, "provider": "mynumber_card", "provider_label": "マイナンバーカード",
        "kind": "individual", "subject": CLAIMS["sub"], "issuer": ISSUER, "level": "card_signin",
        "auth_time": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now)),
        "claims": {k: CLAIMS[k] for k in ("name", "address", "birthdate", "gender")},
        "email": "", "id_token_sha256": hashlib.sha256(b"bench").hexdigest(),
        "signed_in_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now)),
    }


# --- the three measured things -------------------------------------------------------


def expect(response, statuses, what: str):
    if response.status_code not in statuses:
        body = response.content.decode(errors="replace")[:1500]
        sys.exit(f"{what}: HTTP {response.status_code} (expected {statuses})\n{body}")
    return response


def anonymous_start(client) -> None:
    path = f"/procedures/{ANONYMOUS_CODE}/apply/"
    expect(client.get(path), (200,), "anonymous start page")
    expect(client.post(path), (302,), "anonymous start")


def prefilled_start(client) -> str:
    """Returns the new draft's address."""
    path = f"/procedures/{CARD_CODE}/apply/"
    expect(client.get(path), (200,), "prefilled start page")
    response = expect(client.post(path), (302,), "prefilled start")
    if not response["Location"].startswith("/apply/"):
        sys.exit(f"the signed-in resident was not given a draft: {response['Location']}")
    return response["Location"]


def signed_in_client():
    from django.test import Client

    from tenohira.core import residents

    client = Client(HTTP_HOST=HOST)
    session = client.session
    session[residents.SESSION_KEY] = {**card_identity(), "last_seen": time.time()}
    session.save()
    return client


_browser = None


def sign_in_round_trip(fake: FakeProvider) -> tuple[float, float, float]:
    """One sign-in on a fresh browser; returns our side's CPU seconds of the sign-in page,
    the start and the callback (the provider's signing before the timer, the fake's
    answering subtracted)."""
    global _browser
    from django.test import Client
    from django.urls import reverse

    # One test client with its cookies cleared, not a new one each time: a new client
    # builds a new handler, whose middleware set-up (WhiteNoise indexing every static
    # file) a running server does once, not per request.
    if _browser is None:
        _browser = Client(HTTP_HOST=HOST)
    client = _browser
    client.cookies.clear()
    next_path = f"/procedures/{CARD_CODE}/"
    start_url = reverse("identity:start", args=["mynumber_card"])
    fake_before = fake.cpu
    t0 = time.process_time()
    page = client.get(reverse("identity:sign_in"), {"next": next_path, "level": "card_signin"})
    t_page = time.process_time()
    expect(page, (200, 302), "sign-in page")
    started = expect(client.post(start_url, {"next": next_path}), (302,), "sign-in start")
    t1 = time.process_time()
    fake_start = fake.cpu - fake_before
    query = parse_qs(urlsplit(started["Location"]).query)
    if not started["Location"].startswith(ISSUER + "/"):
        sys.exit(f"the start did not redirect to the provider: {started['Location']}")
    fake.prepare_token(query["nonce"][0])
    code = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
    callback = reverse("identity:callback", args=["mynumber_card"])
    t2 = time.process_time()
    done = client.get(callback, {"code": code, "state": query["state"][0]})
    t3 = time.process_time()
    expect(done, (302,), "callback")
    if done["Location"] != next_path:
        sys.exit(f"the callback did not return to {next_path}: {done['Location']}")
    # The start fetches the discovery document only when it is not cached (the first time).
    return t_page - t0, t1 - t_page - fake_start, t3 - t2 - (fake.cpu - fake_before - fake_start)


def profile_sign_in(fake: FakeProvider, n: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        sign_in_round_trip(fake)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


def timed(n: int, one) -> float:
    """CPU seconds of n calls of one()."""
    t0 = time.process_time()
    for _ in range(n):
        one()
    return time.process_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", help="a PostgreSQL URL (database created and dropped; name tenohira_bench*)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=200, help="operations of each kind per round")
    parser.add_argument("--profile", action="store_true", help="also print where the sign-in's CPU goes")
    parser.add_argument("--warmup", type=int, default=20, help="untimed operations of each kind first (at least 1)")
    args = parser.parse_args()
    args.warmup = max(args.warmup, 1)

    workdir = Path(tempfile.mkdtemp(prefix="tenohira-identity-bench-"))
    drop = setup(args.db_url, workdir)
    try:
        run(args, workdir)
    finally:
        from django.db import connections

        connections.close_all()
        if drop:
            drop()
        shutil.rmtree(workdir, ignore_errors=True)


def run(args, workdir: Path) -> None:
    import django
    from django.db import connection

    configure(workdir)
    publish_forms()
    from django.test import Client

    from tenohira.applications.models import Draft

    print(f"database: {connection.vendor}; Django {django.get_version()}; Python {sys.version.split()[0]}")
    print(f"{args.rounds} rounds × {args.n} of each (after {args.warmup} untimed); CPU time of this process")
    print("(c): provider answered in-process by a fake at requests' transport adapter (recorded-style")
    print("     JSON documents, ID token signed before the timer; the fake's own CPU subtracted)")
    print()

    anonymous = Client(HTTP_HOST=HOST)
    signed_in = signed_in_client()
    with FakeProvider() as fake:
        for _ in range(args.warmup):
            anonymous_start(anonymous)
            draft_path = prefilled_start(signed_in)
            sign_in_round_trip(fake)
        # The prefilled start really prefilled: the draft carries the identity.
        draft = Draft.objects.filter(public_id=draft_path.split("/")[2]).first()
        if not draft or draft.identity.get("subject") != CLAIMS["sub"]:
            sys.exit("the signed-in start did not store the identity on the draft")
        prefilled = json.dumps(draft.raw, ensure_ascii=False)
        family = CLAIMS["name"].split()[0]
        print(f"prefilled: the family name {family} {'is' if family in prefilled else 'is NOT'} in the new"
              " draft's inputs")

        rows: dict[str, list[float]] = {"a": [], "b": [], "c": [], "page": [], "start": [], "callback": []}
        for r in range(args.rounds):
            rows["a"].append(timed(args.n, lambda: anonymous_start(anonymous)) / args.n)
            rows["b"].append(timed(args.n, lambda: prefilled_start(signed_in)) / args.n)
            parts = [sign_in_round_trip(fake) for _ in range(args.n)]
            for i, key in enumerate(("page", "start", "callback")):
                rows[key].append(sum(p[i] for p in parts) / args.n)
            rows["c"].append(rows["page"][-1] + rows["start"][-1] + rows["callback"][-1])
            print(f"round {r + 1}: (a) {rows['a'][-1] * 1000:.2f} ms  (b) {rows['b'][-1] * 1000:.2f} ms  "
                  f"(c) {rows['c'][-1] * 1000:.2f} ms per operation")
        calls = ", ".join(f"{path} {count}" for path, count in sorted(fake.calls.items()))
        profile = profile_sign_in(fake, args.n) if args.profile else ""
    print(f"provider calls answered by the fake: {calls}")

    a, b, c = (statistics.median(rows[k]) for k in "abc")
    print()
    print("median of the rounds, server CPU per operation (per request in brackets)")
    print(f"  (a) anonymous start, 2 requests      {a * 1000:8.2f} ms  ({a * 500:.2f} ms/request)   1.00 ×")
    print(f"  (b) prefilled card start, 2 requests {b * 1000:8.2f} ms  ({b * 500:.2f} ms/request)   {b / a:.2f} ×")
    print(f"  (c) sign-in round trip, 3 requests   {c * 1000:8.2f} ms  ({c * 1000 / 3:.2f} ms/request)   {c / a:.2f} ×")
    page, start, callback = (statistics.median(rows[k]) * 1000 for k in ("page", "start", "callback"))
    print(f"      of which: sign-in page {page:.2f} ms, start {start:.2f} ms, callback {callback:.2f} ms")
    print("ratios are against (a), per operation, measured in the same run")
    if profile:
        print()
        print(f"where the sign-in round trip's CPU goes (cProfile over {args.n} more, by own time):")
        print(profile)


if __name__ == "__main__":
    main()
