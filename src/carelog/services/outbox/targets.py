"""Where a webhook may be sent (SSRF): https only (unless the service allows http), no
credentials in the URL, and a host that is, and resolves only to, public addresses (unless
the service allows loopback, private and the other non-public ones). Checked when a
subscription is made and again before every attempt, whose connection then goes to an
address the check passed (the host name kept for TLS and ``Host``), so a name that resolves
elsewhere later (DNS rebinding) is not followed."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from carelog.domain.subscriptions import WebhookTargetRefused

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: its parts and the addresses it may be sent to."""

    url: SplitResult
    host: str
    port: int
    addresses: tuple[Address, ...]

    def pinned_urls(self) -> list[str]:
        """The URL with its host replaced by each checked address, in resolution order."""
        found = []
        for address in self.addresses:
            shown = f"[{address}]" if address.version == 6 else str(address)
            found.append(self.url._replace(netloc=f"{shown}:{self.port}").geturl())
        return found


def _refuse(message: str) -> WebhookTargetRefused:
    return WebhookTargetRefused(
        "The subscription's URL is refused.",
        errors=[{"field": "url", "location": "body", "message": message,
                 "type": "webhook-target-refused"}],
    )  # fmt: skip


def is_public(address: Address) -> bool:
    """Whether an address is globally reachable: not loopback, private, link-local, shared
    (100.64/10), reserved, multicast or unspecified (an IPv4-mapped IPv6 address is its
    IPv4 one)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def _resolve(host: str, port: int) -> tuple[Address, ...]:
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _refuse(f"the host does not resolve ({type(exc).__name__})") from None
    addresses: dict[Address, None] = {}
    for *_, sockaddr in found:
        addresses[ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])] = None
    if not addresses:
        raise _refuse("the host does not resolve")
    return tuple(addresses)


async def check_target(url: str, *, allow_http: bool, allow_private: bool) -> Target:
    """The checked target of ``url``; :class:`WebhookTargetRefused` saying why not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse("not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise _refuse("the URL must be https")
    if scheme == "http" and not allow_http:
        raise _refuse("the URL must be https (this service does not deliver over http)")
    if parts.username is not None or parts.password is not None:
        raise _refuse("the URL may not carry credentials")
    host = parts.hostname
    if not host:
        raise _refuse("the URL has no host")
    port = port or (443 if scheme == "https" else 80)
    addresses = await _resolve(host, port)
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise _refuse(
                    "the host is or resolves to a loopback, private, link-local or other "
                    "non-public address"
                )
    return Target(parts._replace(scheme=scheme), host, port, addresses)
