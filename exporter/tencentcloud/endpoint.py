"""Where requests go: an API base URL checked once, with the `Host` value the signature covers.

HTTPS is the default because the session token and the signed request travel in the clear otherwise.
Plain HTTP is accepted for loopback addresses (a local simulator or a sidecar proxy) or when the caller
says so explicitly; anything else is refused with an error that says how to allow it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}


class EndpointError(ValueError):
    """An endpoint that cannot or must not be used; the message says which and why."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed API base URL: `url` to send to, `host` for the `Host` header and the signature."""

    url: str
    scheme: str
    host: str

    @classmethod
    def parse(cls, value: str, *, allow_insecure: bool = False) -> Endpoint:
        """Accept `https://host[:port][/]`, a bare `host[:port]` (taken as HTTPS), or `http://` as above."""
        text = value.strip()
        if not text:
            raise EndpointError("endpoint is empty")
        if "://" not in text:
            text = "https://" + text
        try:
            url = httpx.URL(text)
        except httpx.InvalidURL:
            raise EndpointError("endpoint is not a valid URL") from None
        if url.userinfo:
            raise EndpointError("endpoint must not contain user information (user:password@)")
        scheme = url.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise EndpointError(f"endpoint {value!r}: scheme must be https or http, not {scheme!r}")
        if not url.host:
            raise EndpointError(f"endpoint {value!r} has no host")
        if url.path not in ("", "/") or url.query or url.fragment:
            # not echoed: a query string is where people put tokens
            raise EndpointError("endpoint must be a base URL (scheme://host[:port]) without path, query or fragment")
        if scheme == "http" and not (allow_insecure or is_loopback(url.host)):
            raise EndpointError(
                f"endpoint {value!r} uses plain http to a non-loopback host; use https, "
                "or allow insecure endpoints explicitly (for a trusted proxy)"
            )
        host = f"[{url.host}]" if ":" in url.host else url.host
        port = url.port
        if port is not None and port != _DEFAULT_PORTS[scheme]:
            host = f"{host}:{port}"
        return cls(url=f"{scheme}://{host}/", scheme=scheme, host=host)
