"""A small OAuth 2.0 provider on 127.0.0.1 that plays Google and Microsoft 365 for the tests.

- `GET /authorize`: the consent page (Allow / Cancel) for the person `consent_as` names; with
  `auto_consent` it answers at once. Either way it redirects back with a code and the state, or
  with the error the test scripted (`authorize_error`: "access_denied", or Microsoft's
  "consent_required" with AADSTS65001...).
- `POST /token`: `authorization_code` (the code, the redirect URI, the client and the PKCE
  verifier all checked) and `refresh_token`; `rotate_refresh_tokens` answers every refresh with a
  new refresh token and retires the old one, as Microsoft does. A revoked grant answers
  `invalid_grant`. `id_token=False` leaves the id_token out of the answer.
- `GET /userinfo`: the token's person (`sub`, `email`, `email_verified`).
- `POST /revoke`: ends a grant, its refresh and access tokens.

Every access token it issues is handed to `on_access_token(login, token)` (the tests make it a
valid XOAUTH2 token for Dovecot's oauth2 passdb and aiosmtpd) and every one it retires to
`on_revoke(token)`, so that a revoked token is really refused by the mail servers.
"""

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

HOST = "127.0.0.1"


@dataclass
class Grant:
    login: str  # the mailbox address, as the mail servers know it
    subject: str
    scope: str
    refresh_token: str
    access_tokens: list[str] = field(default_factory=list)
    revoked: bool = False


class OAuthProvider:
    def __init__(self, *, client_id="crm-test-client", client_secret="crm-test-secret"):
        self.client_id = client_id
        self.client_secret = client_secret
        self.consent_as = "rep@gmail.test"
        self.auto_consent = True
        self.authorize_error: tuple[str, str] | None = None  # (error, description)
        self.refresh_error: tuple[int, str, str] | None = None  # (status, error, description)
        self.expires_in = 3600
        # Seconds a refresh token lives, sent as Google does for apps in "Testing" status.
        self.refresh_expires_in: int | None = None
        self.rotate_refresh_tokens = False
        self.token_delay = 0.0  # seconds the token endpoint takes to answer
        self.refresh_tokens = True  # False: answers as to a client that asked no offline access
        self.id_token = True
        self.on_access_token = lambda login, token: None
        self.on_revoke = lambda token: None
        self.grants: list[Grant] = []
        self.issued: list[str] = []  # every access and refresh token it ever gave
        self.requests: list[tuple[str, dict]] = []  # (path, form or query)
        self._codes: dict[str, dict] = {}
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                owner._get(self)

            def do_POST(self):  # noqa: N802
                owner._post(self)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{HOST}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- what the tests ask ------------------------------------------------------------------

    def endpoints(self) -> dict[str, str]:
        return {
            "authorize": f"{self.url}/authorize",
            "token": f"{self.url}/token",
            "userinfo": f"{self.url}/userinfo",
            "revoke": f"{self.url}/revoke",
        }

    def grant_for(self, login: str) -> Grant:
        return next(g for g in reversed(self.grants) if g.login == login)

    def revoke(self, login: str) -> None:
        """The rep (or their administrator) removes the CRM's access at the provider."""
        with self._lock:
            for grant in self.grants:
                if grant.login == login:
                    self._revoke_grant(grant)

    def issue(self, login: str, *, scope: str = "https://mail.google.com/") -> dict:
        """A grant made as if the rep had consented: the token answer the CRM would get."""
        with self._lock:
            grant = Grant(login, _subject(login), scope, _token("rt"))
            self.grants.append(grant)
            return self._token_answer(grant, with_refresh=True)

    def expire_access_tokens(self, login: str) -> None:
        """The provider stops honouring the access tokens it gave (early expiry)."""
        with self._lock:
            grant = self.grant_for(login)
            for token in grant.access_tokens:
                self.on_revoke(token)
            grant.access_tokens.clear()

    # -- the endpoints -----------------------------------------------------------------------

    def _get(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append((parts.path, query))
        if parts.path == "/authorize":
            self._authorize(request, query)
        elif parts.path == "/userinfo":
            self._userinfo(request)
        else:
            _send(request, 404, {"error": "not_found"})

    def _post(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(request.rfile.read(length).decode()).items()}
        path = urlsplit(request.path).path
        self.requests.append((path, form))
        if path == "/token":
            self._token(request, form)
        elif path == "/revoke":
            with self._lock:
                for grant in self.grants:
                    if form.get("token") in (grant.refresh_token, *grant.access_tokens):
                        self._revoke_grant(grant)
            _send(request, 200, None)
        elif path == "/consent":
            self._consented(request, form)
        else:
            _send(request, 404, {"error": "not_found"})

    def _authorize(self, request, query: dict) -> None:
        if query.get("client_id") != self.client_id:
            _send(request, 400, {"error": "invalid_client"})
            return
        if self.auto_consent:
            self._redirect_back(request, query, allow=True)
            return
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        page = (
            "<!doctype html><title>Consent</title><form method=post action=/consent>"
            f"<p>The CRM asks to read and send mail as {html.escape(self.consent_as)}.</p>"
            f'{hidden}<button name="answer" value="allow">Allow</button>'
            '<button name="answer" value="cancel">Cancel</button></form>'
        ).encode()
        request.send_response(200)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(page)))
        request.end_headers()
        request.wfile.write(page)

    def _consented(self, request, form: dict) -> None:
        self._redirect_back(request, form, allow=form.pop("answer", "") == "allow")

    def _redirect_back(self, request, query: dict, *, allow: bool) -> None:
        answer = {"state": query.get("state", "")}
        if not allow:
            answer |= {"error": "access_denied", "error_description": "The user cancelled."}
        elif self.authorize_error:
            error, description = self.authorize_error
            answer |= {"error": error, "error_description": description}
        else:
            code = _token("code")
            self._codes[code] = {
                "login": self.consent_as,
                "redirect_uri": query.get("redirect_uri", ""),
                "challenge": query.get("code_challenge", ""),
                "scope": query.get("scope", ""),
            }
            answer["code"] = code
        request.send_response(302)
        request.send_header("Location", f"{query.get('redirect_uri', '')}?{urlencode(answer)}")
        request.send_header("Content-Length", "0")
        request.end_headers()

    def _token(self, request, form: dict) -> None:
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ) and not self._basic_auth_ok(request):
            _send(request, 401, {"error": "invalid_client"})
            return
        time.sleep(self.token_delay)
        with self._lock:
            if form.get("grant_type") == "authorization_code":
                self._code_grant(request, form)
            elif form.get("grant_type") == "refresh_token":
                self._refresh_grant(request, form)
            else:
                _send(request, 400, {"error": "unsupported_grant_type"})

    def _basic_auth_ok(self, request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        expected = f"{self.client_id}:{self.client_secret}".encode()
        return base64.b64decode(header[6:]) == expected

    def _code_grant(self, request, form: dict) -> None:
        code = self._codes.pop(form.get("code", ""), None)
        if code is None or code["redirect_uri"] != form.get("redirect_uri"):
            _send(request, 400, {"error": "invalid_grant", "error_description": "bad code"})
            return
        if code["challenge"]:
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != code["challenge"]:
                _send(request, 400, {"error": "invalid_grant", "error_description": "PKCE"})
                return
        grant = Grant(code["login"], _subject(code["login"]), code["scope"], _token("rt"))
        self.grants.append(grant)
        _send(request, 200, self._token_answer(grant, with_refresh=True))

    def _refresh_grant(self, request, form: dict) -> None:
        if self.refresh_error:
            status, error, description = self.refresh_error
            _send(request, status, {"error": error, "error_description": description})
            return
        grant = next((g for g in self.grants if g.refresh_token == form.get("refresh_token")), None)
        if grant is None or grant.revoked:
            _send(
                request,
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                },
            )
            return
        if self.rotate_refresh_tokens:
            grant.refresh_token = _token("rt")
        _send(request, 200, self._token_answer(grant, with_refresh=self.rotate_refresh_tokens))

    def _token_answer(self, grant: Grant, *, with_refresh: bool) -> dict:
        access = _token("at")
        grant.access_tokens.append(access)
        self.issued += [access, grant.refresh_token]
        self.on_access_token(grant.login, access)
        answer = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": grant.scope,
        }
        if with_refresh and self.refresh_tokens:
            answer["refresh_token"] = grant.refresh_token
        if self.refresh_expires_in is not None:
            answer["refresh_token_expires_in"] = self.refresh_expires_in
        if self.id_token:
            answer["id_token"] = _unsigned_jwt(
                {
                    "iss": self.url,
                    "aud": self.client_id,
                    "sub": grant.subject,
                    "email": grant.login,
                    "email_verified": True,
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 3600,
                }
            )
        return answer

    def _userinfo(self, request) -> None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        grant = next((g for g in self.grants if token in g.access_tokens and not g.revoked), None)
        if grant is None:
            _send(request, 401, {"error": "invalid_token"})
            return
        _send(request, 200, {"sub": grant.subject, "email": grant.login, "email_verified": True})

    def _revoke_grant(self, grant: Grant) -> None:
        grant.revoked = True
        for token in grant.access_tokens:
            self.on_revoke(token)
        grant.access_tokens.clear()


def _send(request, status: int, body) -> None:
    data = json.dumps(body).encode() if body is not None else b""
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)


def _token(kind: str) -> str:
    return f"{kind}-{secrets.token_urlsafe(24)}"


def _subject(login: str) -> str:
    return hashlib.sha256(login.encode()).hexdigest()[:21]


def _unsigned_jwt(claims: dict) -> str:
    # Received straight from the token endpoint, an id_token needs no signature check (OpenID
    # Connect Core 3.1.3.7); the CRM reads only its claims.
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."
