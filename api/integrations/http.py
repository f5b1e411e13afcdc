"""Outbound HTTP to addresses users choose (webhook callbacks), guarded against SSRF.

A URL is parsed and resolved once; every address it resolves to must be public (unless the
caller allows private targets: development and tests). The request then connects to the
address that was checked (no second DNS lookup for an attacker to rebind), sends the original
Host and TLS server name, follows no redirects and keeps only a short prefix of the answer.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

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


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """POST to the checked address; the status and the first bytes of the answer."""
    pool: urllib3.HTTPConnectionPool
    limit = urllib3.Timeout(total=timeout)
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=limit,
            retries=False,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=limit, retries=False)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    with pool:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            retries=False,
            preload_content=False,
        )
        excerpt = response.read(RESPONSE_EXCERPT_BYTES, decode_content=False)
        response.release_conn()
    return response.status, excerpt
