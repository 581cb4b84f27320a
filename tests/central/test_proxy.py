"""Behind a reverse proxy: X-Forwarded-For counts only when a trusted proxy sent it, and no part
of the app sees the forwarding headers afterwards."""

from __future__ import annotations

from central.web.proxy import TrustedProxies, trusted


def seen(proxies, peer, **headers):
    got = {}

    def app(environ, start_response):
        got.update(environ)
        return []

    environ = {"REMOTE_ADDR": peer, "wsgi.url_scheme": "http"}
    environ.update({"HTTP_" + k.upper(): v for k, v in headers.items()})
    TrustedProxies(app, proxies)(environ, lambda *a: None)
    return got


def test_a_client_cannot_choose_the_address_its_tries_are_counted_against():
    got = seen(["127.0.0.1"], "203.0.113.5", x_forwarded_for="198.51.100.1", x_forwarded_proto="https")
    assert got["REMOTE_ADDR"] == "203.0.113.5" and got["wsgi.url_scheme"] == "http"
    assert "HTTP_X_FORWARDED_FOR" not in got and "HTTP_X_FORWARDED_PROTO" not in got


def test_the_trusted_proxy_names_the_client_and_hops_it_added_are_skipped():
    got = seen(["127.0.0.1", "10.0.0.0/8"], "127.0.0.1", x_forwarded_for="1.2.3.4, 198.51.100.7, 10.1.2.3")
    assert got["REMOTE_ADDR"] == "198.51.100.7"  # the right-most address that is not a proxy of ours
    assert seen(["127.0.0.1"], "127.0.0.1", x_forwarded_proto="https")["wsgi.url_scheme"] == "https"
    assert seen(["127.0.0.1"], "127.0.0.1", x_forwarded_for="not-an-ip")["REMOTE_ADDR"] == "127.0.0.1"
    assert "HTTP_FORWARDED" not in seen(["127.0.0.1"], "127.0.0.1", forwarded="for=1.2.3.4")


def test_connections_of_a_trusted_proxy_are_not_capped_per_client():
    exempt = trusted(["127.0.0.1", "10.0.0.0/8"])
    assert exempt("127.0.0.1") and exempt("10.9.8.7") and not exempt("203.0.113.5") and not exempt("junk")
