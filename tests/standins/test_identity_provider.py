"""The stand-in for デジタル認証アプリ, driven by raw HTTP as a service would, against the
real process: discovery, the code flow with PKCE and private_key_jwt, the four items,
the signing transaction and its certificates, revocation, and every fault mode."""

import base64
import hashlib
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from tests.support.idp import (
    DEMO_PIN,
    DEMO_SIGNING_PASSWORD,
    make_client_key,
    start_identity_provider,
)

CALLBACK = "http://127.0.0.1:9/identity/callback/mynumber_card/"  # never contacted: redirects are read, not followed
SIGN_CALLBACK = "http://127.0.0.1:9/identity/sign/callback/"
SCOPE = "openid name address birthdate gender"


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    provider = start_identity_provider(tmp_path_factory)
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def client(idp):
    key_pem, client_id = idp.make_client([CALLBACK, SIGN_CALLBACK])
    return key_pem, client_id


@pytest.fixture(autouse=True)
def _no_fault_left(idp):
    yield
    idp.fault(None)


def assertion(key_pem: str, client_id: str, audience: str, **overrides) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60,
              "jti": secrets.token_urlsafe(16), **overrides}
    return jwt.encode({"alg": "RS256"}, claims, RSAKey.import_key(key_pem))


def client_auth(key_pem, client_id, audience):
    return {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(key_pem, client_id, audience)}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(idp, client_id, *, resident="r001", pin=DEMO_PIN, action="login", extra=None, drop=()):
    """Ask for a code as a browser would; returns (response to the POST, params, verifier)."""
    verifier, challenge = pkce()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "scope": SCOPE,
              "state": secrets.token_urlsafe(12), "nonce": secrets.token_urlsafe(12),
              "code_challenge": challenge, "code_challenge_method": "S256", **(extra or {})}
    for name in drop:
        params.pop(name)
    page = requests.get(f"{idp.url}/auth", params=params, allow_redirects=False, timeout=10)
    if page.status_code != 200:
        return page, params, verifier
    assert "これはデモ用の代替サービスです。本物のデジタル認証アプリではありません。" in page.text
    response = requests.post(f"{idp.url}/auth", params=params, data={"resident": resident, "pin": pin, "action": action},
                             allow_redirects=False, timeout=10)
    return response, params, verifier


def redirect_params(response) -> dict:
    assert response.status_code == 302, response.text[:500]
    location = urlsplit(response.headers["Location"])
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def token(idp, key_pem, client_id, code, verifier):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier,
            **client_auth(key_pem, client_id, f"{idp.url}/token")}
    return requests.post(f"{idp.url}/token", data=data, timeout=10)


def sign_in(idp, client, resident="r001"):
    key_pem, client_id = client
    response, params, verifier = authorize(idp, client_id, resident=resident)
    returned = redirect_params(response)
    assert returned["state"] == params["state"]
    answer = token(idp, key_pem, client_id, returned["code"], verifier)
    assert answer.status_code == 200, answer.text
    return answer.json(), params


def decode_id_token(idp, id_token):
    keys = KeySet.import_key_set(requests.get(f"{idp.url}/jwks", timeout=10).json())
    return jwt.decode(id_token, keys).claims


def test_discovery_names_the_endpoints_a_service_codes_against(idp):
    document = requests.get(f"{idp.url}/.well-known/openid-configuration", timeout=10).json()
    assert document["issuer"] == idp.url and not idp.url.endswith("/")
    for name, path in [("authorization_endpoint", "/auth"), ("token_endpoint", "/token"),
                       ("userinfo_endpoint", "/userinfo"), ("jwks_uri", "/jwks"),
                       ("signing_request_endpoint", "/sign/requests"),
                       ("signing_authorization_endpoint", "/sign/authorize"),
                       ("signing_token_endpoint", "/sign/token")]:
        assert document[name] == f"{idp.url}{path}"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]
    assert set(document["scopes_supported"]) == {"openid", "name", "address", "birthdate", "gender"}
    assert document["subject_types_supported"] == ["pairwise"]


def test_the_code_flow_gives_a_signed_id_token_and_the_four_items_with_gaiji_intact(idp, client):
    tokens, params = sign_in(idp, client, resident="r001")
    claims = decode_id_token(idp, tokens["id_token"])
    assert claims["iss"] == idp.url
    assert claims["aud"] in (client[1], [client[1]])
    assert claims["nonce"] == params["nonce"]
    assert claims["amr"] == ["hwk", "pin"]
    assert claims["exp"] - claims["iat"] == 300
    assert isinstance(claims["auth_time"], int) and claims["sub"]
    assert "name" not in claims  # the four items travel by /userinfo

    info = requests.get(f"{idp.url}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10)
    assert info.status_code == 200
    body = info.json()
    assert body["sub"] == claims["sub"]
    assert body["name"] == "髙橋 𠮷郎"  # 𠮷 lies outside the BMP: it must arrive as itself
    assert body["address"]["formatted"].endswith("サンプル第二コーポラス朝日 三〇五号室")
    assert body["birthdate"] == "1985-04-12" and body["gender"] == "male"
    assert info.headers["Cache-Control"] == "no-store"


def test_userinfo_refuses_a_missing_or_unknown_token(idp):
    assert requests.get(f"{idp.url}/userinfo", timeout=10).status_code == 401
    assert requests.get(f"{idp.url}/userinfo", headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401


def test_the_subject_is_pairwise_per_client(idp, client):
    other = idp.make_client([CALLBACK])
    first, _ = sign_in(idp, client, resident="r002")
    second, _ = sign_in(idp, other, resident="r002")
    again, _ = sign_in(idp, client, resident="r002")
    subject = decode_id_token(idp, first["id_token"])["sub"]
    assert subject != decode_id_token(idp, second["id_token"])["sub"]
    assert subject == decode_id_token(idp, again["id_token"])["sub"]


@pytest.mark.parametrize("change", [
    {"drop": ("code_challenge", "code_challenge_method")},
    {"extra": {"code_challenge_method": "plain"}},
    {"drop": ("code_challenge_method",)},
])
def test_pkce_s256_is_required(idp, client, change):
    response, _params, _verifier = authorize(idp, client[1], **change)
    returned = redirect_params(response)
    assert returned["error"] == "invalid_request" and "code" not in returned


def test_a_wrong_code_verifier_gets_no_token(idp, client):
    key_pem, client_id = client
    response, _params, _verifier = authorize(idp, client_id)
    answer = token(idp, key_pem, client_id, redirect_params(response)["code"], pkce()[0])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_a_code_is_used_once(idp, client):
    key_pem, client_id = client
    response, _params, verifier = authorize(idp, client_id)
    code = redirect_params(response)["code"]
    assert token(idp, key_pem, client_id, code, verifier).status_code == 200
    assert token(idp, key_pem, client_id, code, verifier).json()["error"] == "invalid_grant"


def test_a_nonce_is_required(idp, client):
    response, _params, _verifier = authorize(idp, client[1], drop=("nonce",))
    assert redirect_params(response)["error"] == "invalid_request"


@pytest.mark.parametrize("problem", ["other_key", "wrong_audience", "expired", "replayed_jti", "iss_not_sub"])
def test_a_wrong_client_assertion_is_refused(idp, client, problem):
    key_pem, client_id = client
    response, _params, verifier = authorize(idp, client_id)
    code = redirect_params(response)["code"]
    signing_key, audience, overrides = key_pem, f"{idp.url}/token", {}
    if problem == "other_key":
        signing_key = make_client_key()[0]
    elif problem == "wrong_audience":
        audience = "https://elsewhere.example/token"
    elif problem == "expired":
        overrides = {"exp": int(time.time()) - 600}
    elif problem == "iss_not_sub":
        overrides = {"iss": "someone-else"}
    client_assertion = assertion(signing_key, client_id, audience, **overrides)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion}
    if problem == "replayed_jti":
        first = requests.post(f"{idp.url}/token", data=data, timeout=10)
        assert first.status_code == 200
        response, _params, verifier = authorize(idp, client_id)
        data.update(code=redirect_params(response)["code"], code_verifier=verifier)
    answer = requests.post(f"{idp.url}/token", data=data, timeout=10)
    # RFC 6749 5.2: 401 when the client used the Authorization header, 400 otherwise.
    assert answer.status_code in (400, 401) and answer.json()["error"] == "invalid_client"


def test_a_client_registered_with_a_secret_uses_client_secret_basic(idp):
    secret, client_id = idp.make_client([CALLBACK], auth="client_secret_basic")
    response, _params, verifier = authorize(idp, client_id)
    data = {"grant_type": "authorization_code", "code": redirect_params(response)["code"], "redirect_uri": CALLBACK,
            "code_verifier": verifier}
    assert requests.post(f"{idp.url}/token", data=data, auth=(client_id, "wrong"), timeout=10).status_code == 401
    answer = requests.post(f"{idp.url}/token", data=data, auth=(client_id, secret), timeout=10)
    assert answer.status_code == 200 and answer.json()["id_token"]


def test_an_unknown_client_or_redirect_uri_gets_a_page_not_a_redirect(idp, client):
    response, _params, _verifier = authorize(idp, "nobody")
    assert response.status_code == 400 and "続けられません" in response.text
    response, _params, _verifier = authorize(idp, client[1], extra={"redirect_uri": "https://evil.example/cb"})
    assert response.status_code == 400 and "Location" not in response.headers


def test_cancelling_returns_access_denied_with_the_state(idp, client):
    response, params, _verifier = authorize(idp, client[1], action="cancel", pin="")
    returned = redirect_params(response)
    assert returned["error"] == "access_denied" and returned["state"] == params["state"] and "code" not in returned


def test_three_wrong_pins_lock_the_resident_for_the_life_of_the_process(idp, client):
    for remaining in (2, 1):
        response, _params, _verifier = authorize(idp, client[1], resident="r005", pin="0000")
        assert response.status_code == 400
        assert f"あと{remaining}回間違えるとロックされます" in response.text
    response, _params, _verifier = authorize(idp, client[1], resident="r005", pin="0000")
    assert response.status_code == 403 and "ロックされました" in response.text
    response, _params, _verifier = authorize(idp, client[1], resident="r005", pin=DEMO_PIN)
    assert response.status_code == 403 and "ロックされました" in response.text
    # The others are not affected.
    assert redirect_params(authorize(idp, client[1], resident="r003")[0])["code"]


# -- signing --------------------------------------------------------------------------------


def start_signing(idp, client, digest, **extra):
    key_pem, client_id = client
    data = {"digest": digest, "digest_algorithm": "SHA-256", "redirect_uri": SIGN_CALLBACK,
            "state": secrets.token_urlsafe(12), **extra, **client_auth(key_pem, client_id, f"{idp.url}/sign/requests")}
    return requests.post(f"{idp.url}/sign/requests", data=data, timeout=10), data["state"]


def sign(idp, client, digest, *, resident="r001", password=DEMO_SIGNING_PASSWORD, **extra):
    started, state = start_signing(idp, client, digest, **extra)
    assert started.status_code == 200, started.text
    url = started.json()["authorize_url"]
    assert url.startswith(f"{idp.url}/sign/authorize")
    page = requests.get(url, timeout=10)
    assert page.status_code == 200
    assert "署名用電子証明書のパスワード（英数字6〜16文字）" in page.text and digest[:8] in page.text
    response = requests.post(url, data={"resident": resident, "password": password, "action": "sign"},
                             allow_redirects=False, timeout=10)
    return response, state


def signing_token(idp, client, code):
    key_pem, client_id = client
    data = {"code": code, **client_auth(key_pem, client_id, f"{idp.url}/sign/token")}
    return requests.post(f"{idp.url}/sign/token", data=data, timeout=10)


def test_the_signature_verifies_against_a_certificate_chained_to_the_root(idp, client):
    digest = hashlib.sha256("申請内容".encode()).hexdigest()
    response, state = sign(idp, client, digest, resident="r002")
    returned = redirect_params(response)
    assert returned["state"] == state and response.headers["Location"].startswith(SIGN_CALLBACK)
    answer = signing_token(idp, client, returned["code"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["digest"] == digest and body["digest_algorithm"] == "SHA-256"
    assert body["signature_algorithm"] == "sha256WithRSAEncryption"
    certificate = x509.load_pem_x509_certificate(body["certificate"].encode())
    certificate.public_key().verify(base64.b64decode(body["signature"]), bytes.fromhex(digest),
                                    padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    assert "渡邉 﨑子" in certificate.subject.rfc4514_string()
    intermediate, root = (x509.load_pem_x509_certificate(pem.encode()) for pem in body["chain"])
    certificate.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    assert root == x509.load_pem_x509_certificate(idp.root_pem.read_bytes())
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == f"{idp.url}/ca/crl.der"
    assert certificate.public_key().key_size == 2048
    # The code is good once, and only for the client that asked.
    assert signing_token(idp, client, returned["code"]).status_code == 400
    # The signer's subject is the pairwise one this client knows from sign-in.
    tokens, _ = sign_in(idp, client, resident="r002")
    assert body["sub"] == decode_id_token(idp, tokens["id_token"])["sub"]


def test_login_hint_fixes_the_signer(idp, client):
    tokens, _ = sign_in(idp, client, resident="r004")
    sub = decode_id_token(idp, tokens["id_token"])["sub"]
    digest = hashlib.sha256(b"x").hexdigest()
    started, _state = start_signing(idp, client, digest, login_hint=sub)
    page = requests.get(started.json()["authorize_url"], timeout=10)
    assert "署名する人: 山﨑 陽翔" in page.text
    response, _state = sign(idp, client, digest, resident="r001", login_hint=sub)  # the hint wins over the form
    body = signing_token(idp, client, redirect_params(response)["code"]).json()
    assert body["sub"] == sub


@pytest.mark.parametrize("change", [{"digest": "abc"}, {"digest_algorithm": "SHA-1"},
                                    {"redirect_uri": "https://evil.example/cb"}, {"state": ""}])
def test_a_malformed_signing_request_is_refused(idp, client, change):
    digest = change.pop("digest", hashlib.sha256(b"y").hexdigest())
    started, _state = start_signing(idp, client, digest, **change)
    assert started.status_code == 400 and started.json()["error"] == "invalid_request"


def test_a_signing_request_needs_client_authentication(idp, client):
    data = {"digest": "0" * 64, "redirect_uri": SIGN_CALLBACK, "state": "s",
            **client_auth(make_client_key()[0], client[1], f"{idp.url}/sign/requests")}
    answer = requests.post(f"{idp.url}/sign/requests", data=data, timeout=10)
    assert answer.status_code in (400, 401) and answer.json()["error"] == "invalid_client"


def test_cancelling_or_a_wrong_password_at_signing(idp, client):
    digest = hashlib.sha256(b"z").hexdigest()
    response, _state = sign(idp, client, digest, password="WRONG1")
    assert response.status_code == 400 and "パスワードが違います" in response.text
    started, state = start_signing(idp, client, digest)
    response = requests.post(started.json()["authorize_url"], data={"action": "cancel"}, allow_redirects=False,
                             timeout=10)
    assert redirect_params(response) == {"error": "access_denied", "state": state}


def test_a_revoked_certificate_appears_in_the_crl_signed_by_the_issuing_ca(idp, client):
    serial = int(next(r for r in idp.residents() if r["id"] == "r006")["certificate_serial"])

    def crl():
        response = requests.get(f"{idp.url}/ca/crl.der", timeout=10)
        assert response.status_code == 200
        return x509.load_der_x509_crl(response.content)

    assert crl().get_revoked_certificate_by_serial_number(serial) is None
    idp.revoke("r006")
    revoked = crl()
    assert revoked.get_revoked_certificate_by_serial_number(serial) is not None
    intermediate = x509.load_pem_x509_certificate((idp.state_dir / "intermediate.pem").read_bytes())
    assert revoked.issuer == intermediate.subject and revoked.is_signature_valid(intermediate.public_key())


# -- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["expired_id_token", "bad_signature", "wrong_issuer", "wrong_audience"])
def test_each_token_fault_spoils_the_next_id_token_only(idp, client, mode):
    idp.fault(mode)
    tokens, _ = sign_in(idp, client)
    keys = KeySet.import_key_set(requests.get(f"{idp.url}/jwks", timeout=10).json())
    if mode == "bad_signature":
        with pytest.raises(JoseError):
            jwt.decode(tokens["id_token"], keys)
    else:
        claims = jwt.decode(tokens["id_token"], keys).claims
        if mode == "expired_id_token":
            assert claims["exp"] < time.time()
        elif mode == "wrong_issuer":
            assert claims["iss"] != idp.url
        else:
            assert client[1] not in claims["aud"]
    # The next sign-in is sound again.
    tokens, _ = sign_in(idp, client)
    claims = decode_id_token(idp, tokens["id_token"])
    assert claims["iss"] == idp.url and claims["exp"] > time.time() and client[1] in claims["aud"]


def test_replay_fault_returns_the_previous_id_token(idp, client):
    first, _ = sign_in(idp, client)
    idp.fault("replay_id_token")
    second, params = sign_in(idp, client)
    assert second["id_token"] == first["id_token"]
    assert decode_id_token(idp, second["id_token"])["nonce"] != params["nonce"]


def test_unavailable_answers_503_everywhere_until_cleared(idp, client):
    idp.fault("unavailable")
    for path in ["/.well-known/openid-configuration", "/jwks", "/auth", "/ca/crl.der", "/healthz"]:
        assert requests.get(f"{idp.url}{path}", timeout=10).status_code == 503
    idp.fault(None)
    assert requests.get(f"{idp.url}/.well-known/openid-configuration", timeout=10).status_code == 200
    assert sign_in(idp, client)[0]["id_token"]


def test_an_unknown_fault_mode_is_refused(idp):
    response = requests.post(f"{idp.url}/__standin__/fault", json={"mode": "nonsense"}, timeout=10)
    assert response.status_code == 400


def test_a_restart_keeps_the_root_and_the_residents_keys(tmp_path):
    first = start_identity_provider(tmp_path)
    root = first.root_pem.read_bytes()
    signer = (first.state_dir / "signer-r001.key.pem").read_bytes()
    assert oct((first.state_dir / "signer-r001.key.pem").stat().st_mode & 0o777) == "0o600"
    first.stop()
    second = start_identity_provider(tmp_path)
    try:
        assert second.root_pem.read_bytes() == root
        assert (second.state_dir / "signer-r001.key.pem").read_bytes() == signer
        # A new port: the signing certificates are issued again to name the CRL where it is served.
        certificate = x509.load_pem_x509_certificate((second.state_dir / "signer-r001.pem").read_bytes())
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert points[0].full_name[0].value == f"{second.url}/ca/crl.der"
    finally:
        second.stop()


def test_the_pages_say_they_are_a_stand_in(idp):
    page = requests.get(f"{idp.url}/", timeout=10)
    assert "これはデモ用の代替サービスです。本物のデジタル認証アプリではありません。" in page.text
    assert DEMO_PIN in page.text and DEMO_SIGNING_PASSWORD in page.text
