"""Sign-in with Google (OpenID Connect) and WeChat (its own OAuth 2 flavour).

A provider is available only when its credentials are configured; the offline default is that
none is, and the login endpoints answer 404. Every address is a setting, so tests point the real
HTTP exchanges at a local fake provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import jwt
import requests

from api.integrations.errors import IntegrationError

TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class OAuthProfile:
    provider: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    picture: str | None


@dataclass(frozen=True)
class AuthorizationRequest:
    state: str
    nonce: str
    code_challenge: str
    redirect_uri: str


class OAuthProvider(Protocol):
    name: str

    def authorization_url(self, request: AuthorizationRequest) -> str: ...

    def exchange(
        self, code: str, *, nonce: str, code_verifier: str, redirect_uri: str
    ) -> OAuthProfile: ...


def _json(response: requests.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 500 or response.status_code == 429:
        raise IntegrationError(
            "oauth_provider_unavailable", f"{what}: {response.status_code}", retryable=True
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise IntegrationError("oauth_failed", f"{what}: not JSON", retryable=False) from exc
    if response.status_code >= 400 or not isinstance(body, dict):
        raise IntegrationError("oauth_failed", f"{what}: {response.status_code}", retryable=False)
    return body


def _call(method: str, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = requests.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
    except requests.RequestException as exc:
        raise IntegrationError(
            "oauth_provider_unavailable", f"{what}: {exc}", retryable=True
        ) from exc
    return _json(response, what)


class GoogleProvider:
    name = "google"

    def __init__(self, config: dict[str, Any]) -> None:
        self.client_id = config["GOOGLE_CLIENT_ID"]
        self.client_secret = config["GOOGLE_CLIENT_SECRET"]
        self.auth_url = config["GOOGLE_AUTH_URL"]
        self.token_url = config["GOOGLE_TOKEN_URL"]
        self.issuer = config["GOOGLE_ISSUER"]
        self.jwks = jwt.PyJWKClient(config["GOOGLE_JWKS_URL"], cache_keys=True, timeout=10)

    def authorization_url(self, request: AuthorizationRequest) -> str:
        query = {
            "client_id": self.client_id,
            "response_type": "code",
            "scope": "openid email profile",
            "redirect_uri": request.redirect_uri,
            "state": request.state,
            "nonce": request.nonce,
            "code_challenge": request.code_challenge,
            "code_challenge_method": "S256",
            "prompt": "select_account",
        }
        return f"{self.auth_url}?{urlencode(query)}"

    def exchange(
        self, code: str, *, nonce: str, code_verifier: str, redirect_uri: str
    ) -> OAuthProfile:
        tokens = _call(
            "POST",
            self.token_url,
            "Google token endpoint",
            data={
                "code": code,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "redirect_uri": redirect_uri,
                "grant_type": "authorization_code",
                "code_verifier": code_verifier,
            },
        )
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise IntegrationError("oauth_failed", "Google sent no ID token", retryable=False)
        try:
            key = self.jwks.get_signing_key_from_jwt(id_token)
            claims = jwt.decode(
                id_token,
                key.key,
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise IntegrationError("oauth_provider_unavailable", str(exc), retryable=True) from exc
        except jwt.PyJWTError as exc:
            raise IntegrationError(
                "oauth_failed", f"ID token refused: {exc}", retryable=False
            ) from exc
        if claims.get("nonce") != nonce:
            raise IntegrationError("oauth_failed", "ID token nonce mismatch", retryable=False)
        return OAuthProfile(
            provider=self.name,
            subject=str(claims["sub"]),
            email=(claims.get("email") or "").lower() or None,
            email_verified=claims.get("email_verified") is True,
            name=claims.get("name"),
            picture=claims.get("picture"),
        )


class WeChatProvider:
    """WeChat website sign-in (`snsapi_login`): appid/secret, openid and unionid, no email."""

    name = "wechat"

    def __init__(self, config: dict[str, Any]) -> None:
        self.app_id = config["WECHAT_APP_ID"]
        self.app_secret = config["WECHAT_APP_SECRET"]
        self.auth_url = config["WECHAT_AUTH_URL"]
        self.token_url = config["WECHAT_TOKEN_URL"]
        self.userinfo_url = config["WECHAT_USERINFO_URL"]

    def authorization_url(self, request: AuthorizationRequest) -> str:
        query = {
            "appid": self.app_id,
            "redirect_uri": request.redirect_uri,
            "response_type": "code",
            "scope": "snsapi_login",
            "state": request.state,
        }
        return f"{self.auth_url}?{urlencode(query)}#wechat_redirect"

    @staticmethod
    def _checked(body: dict[str, Any], what: str) -> dict[str, Any]:
        if body.get("errcode"):  # WeChat answers errors with HTTP 200 and an errcode
            retryable = body["errcode"] == -1  # "system busy"
            raise IntegrationError(
                "oauth_provider_unavailable" if retryable else "oauth_failed",
                f"{what}: errcode {body['errcode']}",
                retryable=retryable,
            )
        return body

    def exchange(
        self, code: str, *, nonce: str, code_verifier: str, redirect_uri: str
    ) -> OAuthProfile:
        token = self._checked(
            _call(
                "GET",
                self.token_url,
                "WeChat token endpoint",
                params={
                    "appid": self.app_id,
                    "secret": self.app_secret,
                    "code": code,
                    "grant_type": "authorization_code",
                },
            ),
            "WeChat token endpoint",
        )
        info = self._checked(
            _call(
                "GET",
                self.userinfo_url,
                "WeChat userinfo",
                params={
                    "access_token": token["access_token"],
                    "openid": token["openid"],
                    "lang": "en",
                },
            ),
            "WeChat userinfo",
        )
        subject = info.get("unionid") or token.get("unionid") or token["openid"]
        return OAuthProfile(
            provider=self.name,
            subject=str(subject),
            email=None,
            email_verified=False,
            name=info.get("nickname"),
            picture=info.get("headimgurl"),
        )


def configured_providers(config: dict[str, Any]) -> dict[str, OAuthProvider]:
    providers: dict[str, OAuthProvider] = {}
    if config["GOOGLE_CLIENT_ID"] and config["GOOGLE_CLIENT_SECRET"]:
        providers["google"] = GoogleProvider(config)
    if config["WECHAT_APP_ID"] and config["WECHAT_APP_SECRET"]:
        providers["wechat"] = WeChatProvider(config)
    return providers
