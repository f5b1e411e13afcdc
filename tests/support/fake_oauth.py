"""A local Google (OpenID Connect) and WeChat provider for the sign-in tests."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.local_server import LocalServer, QuietHandler

CLIENT_ID = "baliblissed-test.apps.googleusercontent.com"
ISSUER = "https://accounts.google.test"


class FakeOAuthProvider(LocalServer):
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []
        self.wechat_errcode: int | None = None
        super().__init__()

    def settings(self) -> dict[str, str]:
        return {
            "GOOGLE_CLIENT_ID": CLIENT_ID,
            "GOOGLE_CLIENT_SECRET": "google-secret",
            "GOOGLE_AUTH_URL": f"{self.url}/o/oauth2/v2/auth",
            "GOOGLE_TOKEN_URL": f"{self.url}/token",
            "GOOGLE_JWKS_URL": f"{self.url}/jwks",
            "GOOGLE_ISSUER": ISSUER,
            "WECHAT_APP_ID": "wx-test-app",
            "WECHAT_APP_SECRET": "wechat-secret",
            "WECHAT_AUTH_URL": f"{self.url}/connect/qrconnect",
            "WECHAT_TOKEN_URL": f"{self.url}/sns/oauth2/access_token",
            "WECHAT_USERINFO_URL": f"{self.url}/sns/userinfo",
        }

    def authorize_google(
        self,
        authorization_url: str,
        *,
        sub: str,
        email: str,
        verified: bool = True,
        name: str = "Wayan Test",
        nonce: str | None = None,
        sign_with: Any = None,
    ) -> str:
        """Play the user approving at Google: returns the code the redirect would carry."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "challenge": query["code_challenge"],
            "claims": {
                "iss": ISSUER,
                "aud": CLIENT_ID,
                "sub": sub,
                "email": email,
                "email_verified": verified,
                "name": name,
                "picture": "https://lh3.googleusercontent.test/a/photo.jpg",
                "nonce": nonce if nonce is not None else query["nonce"],
                "iat": int(time.time()),
                "exp": int(time.time()) + 600,
            },
            "sign_with": sign_with,
        }
        return code

    def authorize_wechat(self, *, unionid: str, nickname: str) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"unionid": unionid, "nickname": nickname}
        return code

    def _jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()

        def b64(number: int) -> str:
            raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        return {
            "keys": [
                {
                    "kty": "RSA",
                    "kid": "test-key",
                    "use": "sig",
                    "alg": "RS256",
                    "n": b64(numbers.n),
                    "e": b64(numbers.e),
                }
            ]
        }

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/jwks":
                    self.answer_json(200, fake._jwks())
                elif parts.path == "/sns/oauth2/access_token":
                    grant = fake.codes.pop(query.get("code", ""), None)
                    if (
                        fake.wechat_errcode
                        or grant is None
                        or query.get("secret") != "wechat-secret"
                    ):
                        self.answer_json(
                            200, {"errcode": fake.wechat_errcode or 40029, "errmsg": "invalid code"}
                        )
                        return
                    token = f"wx-access-{grant['unionid']}"
                    fake.codes[token] = grant
                    self.answer_json(
                        200,
                        {
                            "access_token": token,
                            "expires_in": 7200,
                            "refresh_token": "r",
                            "openid": f"o-{grant['unionid']}",
                            "scope": "snsapi_login",
                            "unionid": grant["unionid"],
                        },
                    )
                elif parts.path == "/sns/userinfo":
                    grant = fake.codes.get(query.get("access_token", ""))
                    if grant is None:
                        self.answer_json(200, {"errcode": 40001, "errmsg": "invalid token"})
                        return
                    self.answer_json(
                        200,
                        {
                            "openid": query["openid"],
                            "nickname": grant["nickname"],
                            "headimgurl": "https://wx.qlogo.test/photo",
                            "unionid": grant["unionid"],
                        },
                    )
                else:
                    self.answer_json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                fake.token_requests.append(form)
                grant = fake.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                    .rstrip(b"=")
                    .decode()
                )
                if (
                    self.path != "/token"
                    or grant is None
                    or challenge != grant["challenge"]
                    or form.get("client_secret") != "google-secret"
                ):
                    self.answer_json(400, {"error": "invalid_grant"})
                    return
                key = grant["sign_with"] or fake.key
                id_token = jwt.encode(
                    grant["claims"], key, algorithm="RS256", headers={"kid": "test-key"}
                )
                self.answer_json(
                    200,
                    {
                        "access_token": "ya29.x",
                        "id_token": id_token,
                        "expires_in": 3599,
                        "token_type": "Bearer",
                    },
                )

        return Handler
