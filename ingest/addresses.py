"""Which hosts Atelier's HTTP clients may reach: public addresses only, unless a private network is allowed.

The check is done by the resolver the connections use, so a name cannot resolve to a public address for the
check and to a private one for the connection. Addresses written as literals never reach a resolver:
`refusal` checks those.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver

PRIVATE = "refused: private address"
REDIRECTS = {301, 302, 303, 307, 308}  # followed by hand, so that every hop is checked
MAX_REDIRECTS = 5


class PrivateAddressError(OSError):
    pass


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PublicResolver(ThreadedResolver):
    """The event loop's getaddrinfo, refusing a name when any of its addresses is not public."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        hosts = await super().resolve(host, port, family)
        if not all(is_public(entry["host"]) for entry in hosts):
            raise PrivateAddressError(f"{host} has a private address")
        return hosts


async def refusal(url: str, resolver: PublicResolver | None) -> str | None:
    """Why `url` may not be fetched (not http(s), credentials in it, a private host), or None. `resolver` None:
    private networks are allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "refused: not an http(s) URL"
    if parts.username is not None or parts.password is not None:
        return "refused: the URL carries credentials"
    if resolver is None:
        return None
    with contextlib.suppress(ValueError):  # ValueError: a name rather than an address
        return None if is_public(parts.hostname) else PRIVATE
    try:
        await resolver.resolve(parts.hostname, 0, socket.AF_UNSPEC)
    except PrivateAddressError:
        return PRIVATE
    except (OSError, UnicodeError) as error:  # UnicodeError: not a valid host name
        return f"cannot resolve {parts.hostname}: {error}"
    return None
