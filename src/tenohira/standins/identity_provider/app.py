"""The stand-in's OpenID provider: authlib's authorization server inside a small Flask app.

The shapes follow the Digital Agency's デジタル認証アプリ as a service sees them: the
authorization code flow with PKCE S256 (required, `plain` refused), `state` and `nonce`,
client authentication by `private_key_jwt` (or `client_secret_basic` for a client
registered with a secret), the scopes `openid name address birthdate gender`, a pairwise
`sub`, and a separate signing transaction in which the service sends a SHA-256 digest and
receives the signature with the signing certificate.

OAuth and OpenID Connect are authlib's: the grant, PKCE, the ID token (signed by joserfc),
the client assertion check, the bearer token check. What is the stand-in's own is what no
library offers: the signing transaction (its client authentication is still authlib's),
the resident's pages, and the test-only controls under `/__standin__/`.

State lives in memory (one process) apart from the keys and certificates, which the
certificate authority keeps in the state directory.
"""

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidClientError,
    InvalidRequestError,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from flask import Flask, abort, g, jsonify, redirect, render_template, request
from joserfc.jwk import KeySet, RSAKey

from .ca import CertificateAuthority
from .residents import BY_ID, DEMO_PIN, DEMO_SIGNING_PASSWORD, RESIDENTS

SCOPES = ["openid", "name", "address", "birthdate", "gender"]
ID_TOKEN_SECONDS = 300
CODE_SECONDS = 120
PIN_ATTEMPTS = 3  # the card locks its sign-in certificate after three wrong PINs
SIGNING_ATTEMPTS = 5  # and its signing certificate after five wrong passwords
FAULT_MODES = {"expired_id_token", "bad_signature", "wrong_issuer", "wrong_audience", "replay_id_token", "unavailable"}
DIGEST = re.compile(r"^[0-9a-f]{64}$")


# -- the data the provider holds ------------------------------------------------------------


@dataclass
class Client(ClientMixin):
    client_id: str
    redirect_uris: list[str]
    token_endpoint_auth_method: str
    jwks: dict | None = None
    client_secret: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> "Client":
        method = data.get("token_endpoint_auth_method") or ("private_key_jwt" if data.get("jwks") else "client_secret_basic")
        if method not in {"private_key_jwt", "client_secret_basic"}:
            raise ValueError(f"unsupported token_endpoint_auth_method: {method}")
        if method == "private_key_jwt" and not data.get("jwks"):
            raise ValueError("a private_key_jwt client needs jwks")
        if method == "client_secret_basic" and not data.get("client_secret"):
            raise ValueError("a client_secret_basic client needs client_secret")
        return cls(str(data["client_id"]), list(data.get("redirect_uris") or []), method,
                   data.get("jwks"), data.get("client_secret"))

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope):
        return list_to_scope([s for s in scope_to_list(scope) or [] if s in SCOPES])

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return self.client_secret is not None and hmac.compare_digest(self.client_secret, client_secret or "")

    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class Subject:
    """A resident as one client sees them (the pairwise `sub` depends on the client)."""

    resident_id: str
    sub: str


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    subject: Subject
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    expires_at: float

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_amr(self):
        return ["hwk", "pin"]  # something held (the card) and something known (the PIN)


@dataclass
class AccessToken(TokenMixin):
    client_id: str
    subject: Subject
    scope: str
    expires_at: float

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return max(0, int(self.expires_at - time.time()))

    def is_expired(self):
        return time.time() >= self.expires_at

    def is_revoked(self):
        return False


@dataclass
class SigningRequest:
    request_id: str
    client_id: str
    digest: str
    redirect_uri: str
    state: str
    resident_id: str | None  # fixed by login_hint, else chosen on the page
    expires_at: float


@dataclass
class Signature:
    code: str
    client_id: str
    digest: str
    resident_id: str
    sub: str
    signature: bytes
    signed_at: str
    expires_at: float


@dataclass
class ProviderState:
    issuer: str
    state_dir: Path
    ca: CertificateAuthority
    id_token_key: RSAKey
    pairwise_secret: bytes
    clients: dict[str, Client] = field(default_factory=dict)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    used_nonces: set = field(default_factory=set)
    used_assertions: set = field(default_factory=set)
    pin_failures: dict[str, int] = field(default_factory=dict)
    signing_failures: dict[str, int] = field(default_factory=dict)
    signing_requests: dict[str, SigningRequest] = field(default_factory=dict)
    signatures: dict[str, Signature] = field(default_factory=dict)
    last_id_token: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pairwise_sub(self, resident_id: str, client_id: str) -> str:
        # Each service sees its own identifier for the same person, so two services
        # cannot join their records by it (OpenID Connect's pairwise subject type).
        mac = hmac.new(self.pairwise_secret, f"{client_id}\x00{resident_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def resident_for_sub(self, sub: str, client_id: str) -> str | None:
        for resident in RESIDENTS:
            if hmac.compare_digest(self.pairwise_sub(resident.id, client_id), sub):
                return resident.id
        return None

    def take_token_fault(self) -> str | None:
        """The one-shot fault for this token response ("unavailable" stays until cleared)."""
        with self.lock:
            fault = self.fault
            if fault and fault != "unavailable":
                self.fault = None
                return fault
        return None


def _load_secret(path: Path) -> bytes:
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def _load_id_token_key(path: Path) -> RSAKey:
    if path.exists():
        key = RSAKey.import_key(path.read_bytes(), {"use": "sig", "alg": "RS256"})
    else:
        key = RSAKey.generate_key(2048, {"use": "sig", "alg": "RS256"}, private=True)
        path.write_bytes(key.as_bytes(private=True))
        path.chmod(0o600)
    key.ensure_kid()
    return key


# -- authlib's pieces, configured for this provider -----------------------------------------


class S256Required(CodeChallenge):
    """PKCE with S256 for every client, confidential ones included (authlib requires it
    only of public clients by default); `plain` is refused as デジタル認証アプリ does."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class PrivateKeyJWT(JWTBearerClientAssertion):
    """`private_key_jwt`: the client signs an assertion with its own key (RFC 7523)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, state: ProviderState):
        super().__init__(validate_jti=True)
        self.state = state

    def get_audiences(self):
        issuer = self.state.issuer
        # The issuer or the endpoint the assertion is sent to.
        return [issuer, f"{issuer}/token", f"{issuer}/sign/requests", f"{issuer}/sign/token"]

    def validate_jti(self, claims, jti):
        key = (claims["sub"], jti)
        with self.state.lock:
            if key in self.state.used_assertions:
                return False
            self.state.used_assertions.add(key)
        return True

    def resolve_client_public_key(self, client):
        return KeySet.import_key_set(client.jwks)


def build_app(issuer: str, state_dir: Path, clients: list[dict] | None = None, *, controls: bool = True) -> Flask:
    """The provider for `issuer` (http://host:port, no trailing slash)."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    state = ProviderState(
        issuer=issuer, state_dir=state_dir, ca=CertificateAuthority(state_dir, issuer),
        id_token_key=_load_id_token_key(state_dir / "id-token-key.pem"),
        pairwise_secret=_load_secret(state_dir / "pairwise.secret"),
    )
    for data in clients or []:
        client = Client.from_dict(data)
        state.clients[client.client_id] = client

    app = Flask(__name__)
    app.json.ensure_ascii = False  # names and addresses stay readable in every JSON answer
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": ID_TOKEN_SECONDS}
    app.config["OAUTH2_ERROR_URIS"] = []
    app.extensions["standin_state"] = state

    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt", "client_secret_basic"]

        def save_authorization_code(self, code, oauth_request):
            data = oauth_request.payload.data
            item = AuthorizationCode(
                code=code, client_id=oauth_request.client.get_client_id(),
                redirect_uri=oauth_request.payload.redirect_uri, scope=oauth_request.payload.scope,
                subject=oauth_request.user, nonce=data.get("nonce"), code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"), auth_time=int(time.time()),
                expires_at=time.time() + CODE_SECONDS,
            )
            with state.lock:
                state.codes[code] = item
                if item.nonce:
                    state.used_nonces.add((item.client_id, item.nonce))

        def query_authorization_code(self, code, client):
            item = state.codes.get(code)
            if item and item.client_id == client.get_client_id() and time.time() < item.expires_at:
                return item
            return None

        def delete_authorization_code(self, authorization_code):
            with state.lock:
                state.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code):
            return authorization_code.subject

    class OpenIDCodeFlow(OpenIDCode):
        def exists_nonce(self, nonce, oauth_request):
            return (oauth_request.payload.client_id, nonce) in state.used_nonces

        def resolve_client_private_key(self, client):
            if g.get("token_fault") == "bad_signature":
                # A key the provider never published: the ID token does not verify.
                return RSAKey.generate_key(2048, {"kid": state.id_token_key.kid}, private=True)
            return state.id_token_key

        def get_client_algorithm(self, client):
            return "RS256"

        def get_encode_header(self, client):
            return {"alg": "RS256", "kid": state.id_token_key.kid, "typ": "JWT"}

        def get_client_claims(self, client):
            fault = g.get("token_fault")
            now = int(time.time())
            claims = {
                "iss": "https://wrong-issuer.example" if fault == "wrong_issuer" else issuer,
                "aud": ["another-service"] if fault == "wrong_audience" else [client.get_client_id()],
                "iat": now, "exp": now + ID_TOKEN_SECONDS,
            }
            if fault == "expired_id_token":
                claims.update(iat=now - 2 * ID_TOKEN_SECONDS - 600, exp=now - ID_TOKEN_SECONDS - 600)
            return claims

        def generate_user_info(self, user, scope):
            # The four items travel by /userinfo; the ID token names the person only.
            return UserInfo(sub=user.sub)

        def process_token(self, grant, response):
            g.token_fault = state.take_token_fault()
            token = super().process_token(grant, response)
            client_id = grant.request.client.get_client_id()
            if g.token_fault == "replay_id_token" and client_id in state.last_id_token:  # noqa: S105 (a fault name)
                token["id_token"] = state.last_id_token[client_id]  # an earlier token, its nonce already used
            elif g.token_fault is None and "id_token" in token:
                state.last_id_token[client_id] = token["id_token"]
            return token

    def save_token(token, oauth_request):
        with state.lock:
            state.tokens[token["access_token"]] = AccessToken(
                client_id=oauth_request.client.get_client_id(), subject=oauth_request.user,
                scope=token.get("scope", ""), expires_at=time.time() + int(token.get("expires_in", ID_TOKEN_SECONDS)))

    server = AuthorizationServer(app, query_client=state.clients.get, save_token=save_token)
    server.scopes_supported = SCOPES
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT(state))
    server.register_grant(CodeGrant, [S256Required(required=True), OpenIDCodeFlow(require_nonce=True)])

    class Bearer(BearerTokenValidator):
        def authenticate_token(self, token_string):
            return state.tokens.get(token_string)

    require_oauth = ResourceProtector()
    require_oauth.register_token_validator(Bearer())

    def authenticate_signing_client() -> Client:
        oauth_request = server.create_oauth2_request(request)
        return server.authenticate_client(oauth_request, ["private_key_jwt", "client_secret_basic"])

    # -- availability and test controls ---------------------------------------------------

    @app.before_request
    def maybe_unavailable():
        if state.fault == "unavailable" and not request.path.startswith("/__standin__/"):
            return jsonify(error="temporarily_unavailable"), 503
        return None

    @app.after_request
    def no_store(response):
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    def control_only():
        if not controls:
            abort(404)

    @app.post("/__standin__/fault")
    def set_fault():
        control_only()
        mode = (request.get_json(silent=True) or {}).get("mode")
        if mode is not None and mode not in FAULT_MODES:
            return jsonify(error=f"unknown mode; one of {sorted(FAULT_MODES)} or null"), 400
        with state.lock:
            state.fault = mode
        return jsonify(mode=mode)

    @app.post("/__standin__/revoke")
    def revoke():
        control_only()
        resident_id = (request.get_json(silent=True) or {}).get("resident")
        if resident_id not in BY_ID:
            return jsonify(error="unknown resident"), 404
        with state.lock:
            state.ca.revoke(resident_id)
        return jsonify(revoked=resident_id, serial=str(state.ca.signers[resident_id].serial_number))

    @app.post("/__standin__/clients")
    def add_clients():
        control_only()
        data = request.get_json(silent=True)
        items = data if isinstance(data, list) else [data]
        try:
            added = [Client.from_dict(item) for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            return jsonify(error=str(exc)), 400
        with state.lock:
            for client in added:
                state.clients[client.client_id] = client
        return jsonify(clients=[client.client_id for client in added])

    @app.get("/__standin__/residents")
    def list_residents():
        control_only()
        return jsonify([{"id": r.id, "name": r.name, "address": r.address, "birthdate": r.birthdate,
                         "gender": r.gender, "certificate_serial": str(state.ca.signers[r.id].serial_number)}
                        for r in RESIDENTS])

    # -- OpenID Connect ------------------------------------------------------------------

    @app.get("/.well-known/openid-configuration")
    def discovery():
        return jsonify({
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/auth",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "jwks_uri": f"{issuer}/jwks",
            "scopes_supported": SCOPES,
            "claims_supported": ["sub", "name", "address", "birthdate", "gender", "auth_time", "nonce", "amr"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "signing_request_endpoint": f"{issuer}/sign/requests",
            "signing_authorization_endpoint": f"{issuer}/sign/authorize",
            "signing_token_endpoint": f"{issuer}/sign/token",
            "signing_digest_algorithms_supported": ["SHA-256"],
            "signing_signature_algorithms_supported": ["sha256WithRSAEncryption"],
        })

    @app.get("/jwks")
    def jwks():
        return jsonify({"keys": [state.id_token_key.as_dict(private=False)]})

    @app.route("/auth", methods=["GET", "POST"])
    def authorize():
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            if getattr(error, "redirect_uri", None):
                return server.handle_error_response(request, error)
            return render_template("identity_provider/error.html", error=error), 400
        resident_id = request.form.get("resident", "")
        context = {"residents": RESIDENTS, "pin_attempts": PIN_ATTEMPTS, "demo_pin": DEMO_PIN,
                   "selected": resident_id, "error": None, "scopes": scope_to_list(grant.request.payload.scope)}
        if request.method == "GET":
            return render_template("identity_provider/sign_in.html", **context)
        if request.form.get("action") == "cancel":
            return server.create_authorization_response(grant=grant, grant_user=None)
        if resident_id not in BY_ID:
            context["error"] = "ログインする人を選んでください。"
            return render_template("identity_provider/sign_in.html", **context), 400
        with state.lock:
            failures = state.pin_failures.get(resident_id, 0)
            if failures < PIN_ATTEMPTS and not hmac.compare_digest(request.form.get("pin", ""), DEMO_PIN):
                failures = state.pin_failures[resident_id] = failures + 1
            elif failures < PIN_ATTEMPTS:
                state.pin_failures.pop(resident_id, None)
                failures = -1
        if failures >= PIN_ATTEMPTS:
            context["error"] = (f"暗証番号を{PIN_ATTEMPTS}回間違えたため、{BY_ID[resident_id].name}さんの利用者証明用電子証明書は"
                                "ロックされました。本物のカードでは市区町村の窓口で解除します"
                                "（このデモでは代替サービスを起動し直すと解除されます）。「やめる」で申請に戻れます。")
            context["locked"] = True
            return render_template("identity_provider/sign_in.html", **context), 403
        if failures > 0:
            context["error"] = (f"暗証番号が違います。数字4桁をもう一度入力してください"
                                f"（あと{PIN_ATTEMPTS - failures}回間違えるとロックされます）。")
            return render_template("identity_provider/sign_in.html", **context), 400
        subject = Subject(resident_id, state.pairwise_sub(resident_id, grant.client.get_client_id()))
        return server.create_authorization_response(grant=grant, grant_user=subject)

    @app.post("/token")
    def issue_token():
        return server.create_token_response()

    @app.route("/userinfo", methods=["GET", "POST"])
    @require_oauth("openid")
    def userinfo():
        token = current_token
        resident = BY_ID[token.subject.resident_id]
        scopes = set(scope_to_list(token.scope))
        claims = {"sub": token.subject.sub}
        if "name" in scopes:
            claims["name"] = resident.name
        if "address" in scopes:
            claims["address"] = {"formatted": resident.address}  # OpenID Connect's address claim is an object
        if "birthdate" in scopes:
            claims["birthdate"] = resident.birthdate
        if "gender" in scopes:
            claims["gender"] = resident.gender
        response = app.response_class(
            app.json.dumps(claims, ensure_ascii=False), mimetype="application/json; charset=utf-8")
        return response

    # -- the signing transaction ---------------------------------------------------------

    def signing_error(error: str, description: str, status: int = 400):
        return jsonify(error=error, error_description=description), status

    @app.post("/sign/requests")
    def signing_request():
        try:
            client = authenticate_signing_client()
        except InvalidClientError as error:
            return signing_error("invalid_client", error.description or "client authentication failed", error.status_code)
        digest = (request.form.get("digest") or "").lower()
        if not DIGEST.match(digest):
            return signing_error("invalid_request", "digest must be 64 hexadecimal characters (SHA-256)")
        if request.form.get("digest_algorithm", "SHA-256") != "SHA-256":
            return signing_error("invalid_request", "digest_algorithm must be SHA-256")
        redirect_uri = request.form.get("redirect_uri", "")
        if not client.check_redirect_uri(redirect_uri):
            return signing_error("invalid_request", "redirect_uri is not registered for this client")
        state_value = request.form.get("state", "")
        if not state_value:
            return signing_error("invalid_request", "state is required")
        resident_id = None
        if hint := request.form.get("login_hint"):
            resident_id = state.resident_for_sub(hint, client.client_id)
            if resident_id is None:
                return signing_error("invalid_request", "login_hint does not name a resident known to this client")
        item = SigningRequest(secrets.token_urlsafe(24), client.client_id, digest, redirect_uri, state_value,
                              resident_id, time.time() + 600)
        with state.lock:
            state.signing_requests[item.request_id] = item
        return jsonify(request_id=item.request_id, authorize_url=f"{issuer}/sign/authorize?request_id={item.request_id}")

    def redirect_with(uri: str, **params) -> "Flask.response_class":
        from authlib.common.urls import add_params_to_uri

        return redirect(add_params_to_uri(uri, list(params.items())), code=302)

    @app.route("/sign/authorize", methods=["GET", "POST"])
    def signing_page():
        item = state.signing_requests.get(request.args.get("request_id", ""))
        if item is None or time.time() > item.expires_at:
            error = type("E", (), {"error": "invalid_request", "description": "署名の依頼が見つからないか、期限が切れています。"})
            return render_template("identity_provider/error.html", error=error), 400
        resident_id = item.resident_id or request.form.get("resident", "")
        context = {"item": item, "residents": RESIDENTS, "fixed": BY_ID.get(item.resident_id or ""),
                   "selected": resident_id, "demo_password": DEMO_SIGNING_PASSWORD, "error": None,
                   "short_digest": f"{item.digest[:8]}…{item.digest[-8:]}"}
        if request.method == "GET":
            return render_template("identity_provider/sign.html", **context)
        if request.form.get("action") == "cancel":
            with state.lock:
                state.signing_requests.pop(item.request_id, None)
            return redirect_with(item.redirect_uri, error="access_denied", state=item.state)
        if resident_id not in BY_ID:
            context["error"] = "署名する人を選んでください。"
            return render_template("identity_provider/sign.html", **context), 400
        with state.lock:
            failures = state.signing_failures.get(resident_id, 0)
            if failures < SIGNING_ATTEMPTS and not hmac.compare_digest(
                    request.form.get("password", "").upper(), DEMO_SIGNING_PASSWORD):
                failures = state.signing_failures[resident_id] = failures + 1
            elif failures < SIGNING_ATTEMPTS:
                state.signing_failures.pop(resident_id, None)
                failures = -1
        if failures >= SIGNING_ATTEMPTS:
            context["error"] = (f"パスワードを{SIGNING_ATTEMPTS}回間違えたため、署名用電子証明書はロックされました。"
                                "本物のカードでは市区町村の窓口で解除します（このデモでは代替サービスを起動し直すと解除されます）。"
                                "「やめる」で申請に戻れます。")
            context["locked"] = True
            return render_template("identity_provider/sign.html", **context), 403
        if failures > 0:
            context["error"] = (f"パスワードが違います。英数字6〜16文字をもう一度入力してください"
                                f"（あと{SIGNING_ATTEMPTS - failures}回間違えるとロックされます）。")
            return render_template("identity_provider/sign.html", **context), 400
        signature = Signature(
            code=secrets.token_urlsafe(32), client_id=item.client_id, digest=item.digest, resident_id=resident_id,
            sub=state.pairwise_sub(resident_id, item.client_id),
            signature=state.ca.sign_digest(resident_id, item.digest),
            signed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), expires_at=time.time() + CODE_SECONDS)
        with state.lock:
            state.signing_requests.pop(item.request_id, None)
            state.signatures[signature.code] = signature
        return redirect_with(item.redirect_uri, code=signature.code, state=item.state)

    @app.post("/sign/token")
    def signing_token():
        try:
            client = authenticate_signing_client()
        except InvalidClientError as error:
            return signing_error("invalid_client", error.description or "client authentication failed", error.status_code)
        with state.lock:
            item = state.signatures.get(request.form.get("code", ""))
            if item is None or item.client_id != client.client_id or time.time() > item.expires_at:
                return signing_error("invalid_grant", "the code is unknown, expired or already used")
            del state.signatures[item.code]  # a code is used once
        certificate = state.ca.signers[item.resident_id]
        return jsonify({
            "digest": item.digest,
            "digest_algorithm": "SHA-256",
            "signature_algorithm": "sha256WithRSAEncryption",
            "signature": base64.b64encode(item.signature).decode("ascii"),
            "certificate": state.ca.pem(certificate),
            "chain": state.ca.chain_pems(),
            "signed_at": item.signed_at,
            "sub": item.sub,
        })

    # -- the certificate authority's public files ------------------------------------------

    @app.get("/ca/crl.der")
    def crl():
        response = app.response_class(state.ca.crl_der, mimetype="application/pkix-crl")
        response.headers["Cache-Control"] = "no-cache"
        return response

    @app.get("/ca/root.pem")
    def root_certificate():
        return app.response_class(state.ca.pem(state.ca.root), mimetype="application/x-pem-file")

    @app.get("/")
    def index():
        return render_template("identity_provider/index.html", issuer=issuer, demo_pin=DEMO_PIN,
                               demo_password=DEMO_SIGNING_PASSWORD, residents=RESIDENTS)

    return app
