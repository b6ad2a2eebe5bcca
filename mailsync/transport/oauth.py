"""The OAuth 2.0 token endpoint as Google and Microsoft speak it (RFC 6749): refreshing an access
token, asking who the token belongs to, revoking a grant. Plain HTTP calls that raise MailError
with the catalogue's code and the provider's own words; nothing here stores anything.

Codes: a grant the provider no longer honours (`invalid_grant`: revoked, expired from disuse, the
password changed) is `oauth_reconnect_required`; a grant that needs an administrator's approval
(Microsoft's AADSTS65001, AADSTS90094 and their kind) is `oauth_consent_required`; anything else
the provider answers is `server_error` with its words, and an endpoint that cannot be reached is
`connection_timeout` or `connection_refused`, which the sync retries.
"""

import json
from dataclasses import dataclass, field

import requests

from mailsync.errors import MailError

# Microsoft's codes for "an administrator must approve this app for the organisation".
CONSENT_CODES = ("AADSTS65001", "AADSTS90094", "AADSTS90095", "AADSTS90008", "AADSTS65004")


@dataclass(frozen=True)
class Endpoints:
    """One provider's endpoints and the CRM's client there."""

    token_url: str
    userinfo_url: str
    revoke_url: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class TokenResponse:
    access_token: str = field(repr=False)
    expires_in: int | None
    # Empty when the provider keeps the old one; Microsoft sends a new one with every refresh.
    refresh_token: str = field(default="", repr=False)
    scope: str = ""
    id_token: str = field(default="", repr=False)
    # Seconds the refresh token lives, where the provider limits it (Google, for apps in
    # "Testing" status or time-limited access); None: until revoked or unused too long.
    refresh_expires_in: int | None = None


def token_refresh(
    endpoints: Endpoints, refresh_token: str, *, scope: str = "", timeout: float = 30
) -> TokenResponse:
    """A new access token from the refresh token (grant_type=refresh_token). `scope` asks for a
    token for those scopes only (Microsoft mints one token per resource)."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": endpoints.client_id,
        "client_secret": endpoints.client_secret,
    }
    if scope:
        form["scope"] = scope
    data = _call("post", endpoints.token_url, timeout=timeout, data=form)
    return token_response(data)


def token_response(data: dict) -> TokenResponse:
    """A token endpoint's JSON answer, checked."""
    access_token = data.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise MailError("server_error", "the provider's token answer has no access token")
    return TokenResponse(
        access_token=access_token,
        expires_in=_seconds(data.get("expires_in")),
        refresh_token=str(data.get("refresh_token") or ""),
        scope=str(data.get("scope") or ""),
        id_token=str(data.get("id_token") or ""),
        refresh_expires_in=_seconds(data.get("refresh_token_expires_in")),
    )


def _seconds(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def userinfo(endpoints: Endpoints, access_token: str, *, timeout: float = 30) -> dict:
    """The OpenID Connect userinfo of the token's owner (`sub`, `email`, `email_verified`...)."""
    return _call(
        "get",
        endpoints.userinfo_url,
        timeout=timeout,
        headers={"Authorization": f"Bearer {access_token}"},
    )


def token_revoke(endpoints: Endpoints, token: str, *, timeout: float = 30) -> None:
    """Ask the provider to end the grant (Google's revocation endpoint, RFC 7009). A provider
    without one (Microsoft: the rep removes the app from their account) is not asked."""
    if endpoints.revoke_url:
        _call("post", endpoints.revoke_url, timeout=timeout, data={"token": token}, empty=True)


def _call(method: str, url: str, *, timeout: float, empty: bool = False, **kwargs) -> dict:
    try:
        response = requests.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.Timeout:
        raise MailError("connection_timeout", f"{_host(url)} did not answer in time") from None
    except requests.RequestException as error:
        raise MailError("connection_refused", f"{_host(url)}: {_reason(error)}") from None
    try:
        data = response.json() if response.content else {}
    except (ValueError, json.JSONDecodeError):
        data = None
    if response.status_code >= 400 or not isinstance(data, dict):
        raise provider_error(response.status_code, data, response.text)
    if not data and not empty:
        raise MailError("server_error", f"{_host(url)} answered with no data")
    return data


def provider_error(status: int, data, text: str = "") -> MailError:
    """The MailError for an OAuth error answer: `{"error": ..., "error_description": ...}`."""
    data = data if isinstance(data, dict) else {}
    error = str(data.get("error") or "")
    description = str(data.get("error_description") or "")
    words = ": ".join(part for part in (error, description) if part) or (
        f"HTTP {status}" + (f": {text[:300]}" if text else "")
    )
    if any(code in description for code in CONSENT_CODES) or error == "consent_required":
        return MailError("oauth_consent_required", words)
    if error == "invalid_grant":
        return MailError("oauth_reconnect_required", words)
    if status == 401 and not error:
        return MailError("oauth_reconnect_required", words)
    return MailError("server_error", words)


def _host(url: str) -> str:
    return requests.utils.urlparse(url).netloc or url


def _reason(error: requests.RequestException) -> str:
    # requests nests the socket's reason several levels deep; the last line names it.
    return str(error).rsplit(":", 1)[-1].strip(" ')\"") or type(error).__name__
