"""Behind a reverse proxy: take the client's address from ``X-Forwarded-For`` only when the
request really comes from a proxy named in ``trusted_proxies``.

The right-most address in the header that is not itself a trusted proxy is the client (each
proxy appends the address it got the request from). A request that does not come from a trusted
proxy keeps its own address, whatever headers it sends, so nobody can pick the address their
login tries are counted against. The proxy's ``X-Forwarded-Proto: https`` marks the request
secure (cookies, redirects).

Waitress must then pass the headers through (``clear_untrusted_proxy_headers=False``: it would
drop them all, its own ``trusted_proxy`` knowing one address only); this middleware removes them
after reading, so nothing later can be fooled by them.
"""

from __future__ import annotations

import ipaddress

FORWARDING_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_BY",
    "HTTP_FORWARDED",
)


def in_networks(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def trusted(proxies: list[str]):
    """A test of an address against the configured proxies (their connections are not capped per
    client at waitress: the proxy limits each client itself)."""
    networks = [ipaddress.ip_network(p, strict=False) for p in proxies]
    return lambda address: in_networks(address, networks)


class TrustedProxies:
    def __init__(self, app, proxies: list[str]):
        self.app = app
        self.networks = [ipaddress.ip_network(p, strict=False) for p in proxies]

    def _trusted(self, address: str) -> bool:
        return in_networks(address, self.networks)

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        if self._trusted(peer):
            hops = [h.strip() for h in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
            client = peer
            for hop in reversed(hops):
                client = hop
                if not self._trusted(hop):
                    break
            try:
                environ["REMOTE_ADDR"] = str(ipaddress.ip_address(client))
            except ValueError:
                environ["REMOTE_ADDR"] = peer
            if environ.get("HTTP_X_FORWARDED_PROTO", "").lower() == "https":
                environ["wsgi.url_scheme"] = "https"
        for header in FORWARDING_HEADERS:  # read once, here; nothing after this may trust them
            environ.pop(header, None)
        return self.app(environ, start_response)
