"""Redaction of every log line, web and worker: passwords, tokens, secrets, `Authorization`,
Argon2 hashes, email addresses, phone numbers and client addresses never reach a log in clear.

`api.logs` applies `redact` to each whole rendered line (traceback included), so no caller
can forget.
"""

from __future__ import annotations

import re
from collections.abc import Callable


def _keep_quotes(value: str) -> str:
    """`<redacted>` inside the value's own quotes, so a JSON line stays valid JSON."""
    for quote in ('\\"', '"', "'"):
        if value.startswith(quote):
            return f"{quote}<redacted>{quote}"
    return "<redacted>"


REDACTIONS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer <redacted>"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "<jwt>"),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_<redacted>"),
    (re.compile(r"\$argon2(?:id|i|d)\$[^\s'\"]+"), "<argon2-hash>"),
    (
        re.compile(
            r"(?i)([\"']?\b(?:authorization|cookie|password|passwd|current_password|new_password|"
            r"secret|api_key|apikey|token|access_token|refresh_token|code_verifier)\b[\"']?"
            r"\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|\\\"(?:[^\"\\]|\\[^\"])*\\\"|[^\s,;&}\"'\\]+)"
        ),
        lambda found: found[1] + _keep_quotes(found[2]),
    ),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "<email>"),
    (re.compile(r"(?<![\w.:/-])\+\d[\d ()-]{7,16}\d(?![\w.])"), "<phone>"),
    # Client addresses keep their network, not the host: 203.0.113.7 -> 203.0.113.0.
    (re.compile(r"(?<![\w.])(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}(?![\w.])"), r"\1.0"),
    (
        re.compile(r"(?<![\w:])((?:[0-9a-fA-F]{1,4}:){3})[0-9a-fA-F:]*:[0-9a-fA-F]{1,4}(?![\w:])"),
        r"\1:",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text
