"""The address of the client behind a request, for rate limits and audit records.

`X-Forwarded-For` is written by whoever sends the request, so it is believed only when
the connection comes from a proxy the operator listed in TRUSTED_PROXIES. The proxy
appends the address it saw on the right; everything to the left of that may have been
sent by the client. We therefore walk the header from the right, skipping our own
proxies, and take the first address that is not one of them. Anything that is not a
valid IP address ends the walk: the last address we could trust is used instead.
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# A header longer than this is not from a proxy chain we run; only its tail is read.
MAX_HEADER_CHARS = 2000
MAX_HOPS = 20


@functools.lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for item in spec:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: {item!r} is not an IP address or network") from exc
    return tuple(networks)


def trusted_networks() -> tuple[Network, ...]:
    return _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ()))


def _parse(value: str) -> Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443" from some proxies
        value = value[1:value.index("]")]
    elif value.count(":") == 1:  # "192.0.2.1:51234"
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # An IPv4 client reaching an IPv6 socket shows as ::ffff:a.b.c.d; count it once.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address(request) -> str:
    """The client's IP address as text; "" when there is no request or no usable address."""
    if request is None:
        return ""
    peer = _parse(request.META.get("REMOTE_ADDR", "") or "")
    if peer is None:
        return ""
    networks = trusted_networks()
    if not networks or not _trusted(peer, networks):
        return str(peer)
    forwarded = (request.META.get("HTTP_X_FORWARDED_FOR", "") or "")[-MAX_HEADER_CHARS:]
    hops = [hop for hop in forwarded.split(",") if hop.strip()][-MAX_HOPS:]
    best = peer
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:  # garbage: nothing left of it can be believed
            break
        best = address
        if not _trusted(address, networks):
            break
    return str(best)
