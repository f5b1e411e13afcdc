"""Email through the Gmail API (`users.messages.send`) with an OAuth user token.

The token file is Google's "authorized user" JSON (client_id, client_secret, refresh_token);
google-auth refreshes the access token itself at GMAIL_TOKEN_URI. GMAIL_API_ENDPOINT and
GMAIL_TOKEN_URI override Google's addresses, which is how the tests point the real client at a
local server.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from api.integrations.email import OutgoingEmail
from api.integrations.errors import IntegrationError

SCOPES = ["https://www.googleapis.com/auth/gmail.send"]
TIMEOUT_SECONDS = 20
RETRYABLE_STATUSES = {408, 429, 500, 502, 503, 504}


class GmailSender:
    name = "gmail"
    idempotent = False

    def __init__(self, *, token_file: str, endpoint: str, token_uri: str) -> None:
        self.token_file = token_file
        self.endpoint = endpoint
        self.token_uri = token_uri
        self._local = threading.local()  # httplib2 connections are not thread-safe

    def _service(self) -> Any:
        service = getattr(self._local, "service", None)
        if service is None:
            try:
                credentials = Credentials.from_authorized_user_file(
                    self.token_file, SCOPES
                ).with_token_uri(self.token_uri)  # the file's token_uri is ignored by google-auth
            except (OSError, ValueError) as exc:
                raise IntegrationError(
                    "email_not_configured", f"Gmail token file unusable: {exc}", retryable=False
                ) from exc
            http = AuthorizedHttp(credentials, http=httplib2.Http(timeout=TIMEOUT_SECONDS))
            service = build(
                "gmail",
                "v1",
                http=http,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": self.endpoint},
            )
            self._local.service = service
        return service

    def send(self, message: OutgoingEmail) -> str:
        raw = base64.urlsafe_b64encode(message.as_bytes()).decode("ascii")
        request = self._service().users().messages().send(userId="me", body={"raw": raw})
        try:
            response = request.execute(num_retries=0)
        except HttpError as exc:
            status = exc.resp.status
            raise IntegrationError(
                "email_provider_unavailable" if status in RETRYABLE_STATUSES else "email_rejected",
                f"Gmail API answered {status}",
                retryable=status in RETRYABLE_STATUSES,
            ) from exc
        except RefreshError as exc:
            raise IntegrationError(
                "email_auth_failed", "Gmail refused to refresh the token", retryable=False
            ) from exc
        except (TransportError, httplib2.HttpLib2Error, OSError) as exc:
            raise IntegrationError(
                "email_provider_unavailable", f"Gmail unreachable: {exc}", retryable=True
            ) from exc
        return str(response.get("id", ""))
