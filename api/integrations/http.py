"""Outbound HTTP to addresses users choose (webhook callbacks), guarded against SSRF.

A URL is parsed and resolved once; every address it resolves to must be public (unless the
caller allows private targets: development and tests). The request then connects to the
address that was checked (no second DNS lookup for an attacker to rebind), sends the original
Host and TLS server name, follows no redirects and keeps only a short prefix of the answer.

An attempt has a wall-clock deadline: socket timeouts only bound each read, so a peer that
drips a byte every few seconds would hold a worker indefinitely. A watchdog shuts the socket
down at the deadline, whatever phase the exchange is in.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

RESPONSE_EXCERPT_BYTES = 512

# IPv6 prefixes that carry an IPv4 address to a translator or tunnel (NAT64, 6to4, Teredo,
# IPv4-compatible and -translated forms): reaching them can mean reaching the IPv4 address
# inside, which the guard never checked, so they are refused whatever that address is.
IPV4_CARRIERS = tuple(
    ipaddress.IPv6Network(prefix)
    for prefix in (
        "64:ff9b::/96",  # NAT64, well-known prefix (RFC 6052)
        "64:ff9b:1::/48",  # NAT64, local-use prefix (RFC 8215)
        "2002::/16",  # 6to4 (RFC 3056)
        "2001::/32",  # Teredo (RFC 4380)
        "::/96",  # IPv4-compatible (deprecated, RFC 4291), with :: and ::1
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT, RFC 2765)
    )
)


class RefusedTarget(Exception):
    """The URL is not an allowed target."""


class TransportError(Exception):
    """The attempt got no usable answer (connection, TLS or protocol failure)."""


class DeadlineExceeded(TransportError):
    """No complete answer before the attempt's deadline, whatever the peer was doing."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


def is_public(address: str) -> bool:
    """Global unicast only. An IPv4-mapped address is judged as the IPv4 address it is; other
    IPv6 forms that carry an IPv4 address are refused outright (their translators or relays
    could reach addresses this check never saw)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif any(ip in network for network in IPV4_CARRIERS):
            return False
    return ip.is_global and not ip.is_multicast


def resolve_target(url: str, *, allow_private: bool) -> Target:
    """Parse and resolve the URL once; refuse non-http(s) and (by default) non-public hosts."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise RefusedTarget("Only http and https URLs with a host are allowed.")
    if parts.username or parts.password:
        raise RefusedTarget("Credentials in the URL are not allowed.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise RefusedTarget("The host name does not resolve.") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private and not all(is_public(address) for address in addresses):
        raise RefusedTarget("The host resolves to a private or reserved address.")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return Target(parts.scheme, parts.hostname, port, path, addresses[0])


def _shut(sock: socket.socket) -> None:
    # socket.socket's own shutdown, on the descriptor: SSLSocket.shutdown would also drop its
    # TLS state under the thread that is reading from it.
    with suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watchdog:
    """Shuts the watched socket down when `seconds` have passed: a blocked connect, handshake,
    send or read then fails at once, so no peer can stretch an attempt past its deadline."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._fired = self._stopped = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def watch(self, sock: socket.socket) -> None:
        """Watch this socket from now on (the TLS one replaces the plain one)."""
        with self._lock:
            self._sock = sock
            if self._fired:
                _shut(sock)

    def stop(self) -> bool:
        """Stand down; whether the deadline came first (then the answer is not complete)."""
        with self._lock:
            self._stopped, self._sock = True, None
            self._timer.cancel()
            return self._fired

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._fired = True
            if self._sock is not None:
                _shut(self._sock)


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.001)


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default_port = 443 if target.scheme == "https" else 80
    return host if target.port == default_port else f"{host}:{target.port}"


def _exchange(
    target: Target, body: bytes, headers: dict[str, str], deadline: float, watchdog: Watchdog
) -> tuple[int, bytes]:
    """One request on a fresh connection to the checked address; no redirects, no retries.

    Each blocking step also gets the time that is left as its socket timeout, so a peer that
    sends nothing fails as soon as the deadline passes even before the watchdog fires."""
    family = socket.AF_INET6 if ":" in target.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    plain = sock
    try:
        watchdog.watch(sock)
        sock.settimeout(_remaining(deadline))
        sock.connect((target.address, target.port))
        if target.scheme == "https":
            context = ssl.create_default_context()  # CERT_REQUIRED, host name checked
            sock = context.wrap_socket(
                sock, server_hostname=target.host, do_handshake_on_connect=False
            )
            watchdog.watch(sock)
            sock.settimeout(_remaining(deadline))
            sock.do_handshake()
        connection = http.client.HTTPConnection(target.address, target.port)
        connection.sock = sock  # already connected: http.client only speaks HTTP on it
        sock.settimeout(_remaining(deadline))
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": _host_header(target), "Connection": "close"},
        )
        sock.settimeout(_remaining(deadline))
        response = connection.getresponse()  # the status line and the headers
        sock.settimeout(_remaining(deadline))
        excerpt = response.read(RESPONSE_EXCERPT_BYTES)
        return response.status, excerpt
    finally:
        sock.close()
        plain.close()


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    *,
    started: float | None = None,
) -> tuple[int, bytes]:
    """POST to the checked address; the status and the first bytes of the answer, all within
    `timeout` seconds of wall-clock time (connect, TLS, send, status line, headers, excerpt)
    counted from `started` (`time.monotonic()`, e.g. before the name was resolved; now when
    omitted).

    Raises DeadlineExceeded when the deadline passes first, TransportError for any other
    failure."""
    deadline = (time.monotonic() if started is None else started) + timeout
    late = DeadlineExceeded(f"timed out: no complete answer within {timeout:g} s")
    watchdog = Watchdog(deadline - time.monotonic())
    with watchdog:
        try:
            answer = _exchange(target, body, headers, deadline, watchdog)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if watchdog.stop() or isinstance(exc, TimeoutError):
                raise late from exc
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        if watchdog.stop():  # e.g. an answer without a length, cut short by the watchdog
            raise late
    return answer
