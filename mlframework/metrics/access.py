"""Who may read /metrics: configured addresses, or the bearer token."""

from __future__ import annotations

import enum
import hmac
import ipaddress

from django.conf import settings
from rest_framework.authentication import get_authorization_header

from mlframework.core.lockout import client_address


class Access(enum.Enum):
    ALLOWED = "allowed"
    BAD_TOKEN = "bad token"  # noqa: S105 (401: a token was sent, and it is wrong)
    REFUSED = "refused"  # 403: no token, from an address not allowed


def check(request) -> Access:
    config = settings.CONFIG.metrics
    header = get_authorization_header(request).split()
    if header:
        sent = header[1] if len(header) == 2 and header[0].lower() == b"bearer" else b""
        expected = config.token.encode()
        # compare_digest: the time taken says nothing about how much matched.
        if expected and hmac.compare_digest(sent, expected):
            return Access.ALLOWED
        return Access.BAD_TOKEN
    if _allowed_address(client_address(request), config.networks()):
        return Access.ALLOWED
    return Access.REFUSED


def _allowed_address(address: str | None, networks) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:  # ::ffff:127.0.0.1 from a dual stack
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)
