"""HTTP hardening shared by every page of the app (the REST API and the admin
pages): who the client is behind a proxy, when credentials may travel, and
the security headers of every response.

- **Client address and scheme.** werkzeug's ``ProxyFix`` (one hop of
  ``X-Forwarded-For`` and ``X-Forwarded-Proto``) is applied only when the
  peer is in ``ANALYTICS_TRUSTED_PROXIES``; anyone else's forwarding headers
  are ignored, so a client cannot choose the IP the login throttle counts nor
  pretend it came over HTTPS. The trusted proxy's ``X-Forwarded-Proto`` is
  read case-insensitively (``HTTPS`` is ``https``: schemes are
  case-insensitive, RFC 3986 section 3.1). (gunicorn itself believes ``X-Forwarded-Proto``
  from ``FORWARDED_ALLOW_IPS``, loopback by default; a loopback peer is
  trusted with credentials anyway, see ``credentials_may_travel``.)
- **Credentials over plain HTTP** (``credentials_may_travel``): WordPress
  offers application passwords only over HTTPS or on a local site
  (``wp_is_application_passwords_supported``: ``is_ssl() || 'local' ===
  wp_get_environment_type()``); here, over HTTPS (TLS at the server or a
  trusted proxy's ``X-Forwarded-Proto: https``), from a loopback client, or
  with ``ANALYTICS_ALLOW_HTTP=1``. The same rule guards HTTP Basic on the
  REST API and the sign-in form of the admin pages.
- **Headers** (``security_headers``, one ``after_request`` for the whole app):
  ``X-Content-Type-Options: nosniff`` everywhere; ``Cache-Control: no-store``
  unless a response chose its own caching (the admin stylesheet);
  the admin pages a Content-Security-Policy with ``frame-ancestors 'none'``
  (and ``X-Frame-Options: DENY`` for older browsers), the API a policy that
  allows nothing (a JSON or CSV body is never a page to render).
"""

from __future__ import annotations

import ipaddress
import typing as t

from flask import request
from werkzeug.middleware.proxy_fix import ProxyFix

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask, Response

    import config

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The admin pages have no inline script or style, so the policy forbids both;
#: no page of ours is ever framed (clickjacking), hence frame-ancestors 'none'.
ADMIN_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
#: The API's bodies are data: nothing in them may load or run, nor be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
#: The blueprint of the admin pages (``wpadmin``).
ADMIN_BLUEPRINT = "wpadmin"


def address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IP address (an IPv4-mapped IPv6 address as its IPv4 one), or None."""
    if not text:
        return None
    try:
        parsed = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def in_networks(text: str | None, networks: t.Iterable[Network]) -> bool:
    """Whether the address ``text`` lies in one of ``networks``."""
    found = address(text)
    return found is not None and any(found.version == net.version and found in net for net in networks)


class TrustedProxies:
    """WSGI middleware: ``ProxyFix(x_for=1, x_proto=1)`` for requests whose peer
    (``REMOTE_ADDR``) is a trusted proxy, the request untouched otherwise.

    ProxyFix keeps the peer's own values under ``werkzeug.proxy_fix.orig``."""

    def __init__(self, app: WSGIApplication, networks: t.Sequence[Network]) -> None:
        self.app = app
        self.networks = tuple(networks)
        self.fixed = ProxyFix(app, x_for=1, x_proto=1)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
        if self.networks and in_networks(environ.get("REMOTE_ADDR"), self.networks):
            proto = environ.get("HTTP_X_FORWARDED_PROTO")
            if proto:  # ProxyFix copies it as sent; request.is_secure compares with "https"
                environ["HTTP_X_FORWARDED_PROTO"] = proto.lower()
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


def credentials_may_travel(settings: config.Settings) -> bool:
    """Whether this request may carry a password (HTTP Basic, the sign-in
    form): over HTTPS, from a loopback client (after ``TrustedProxies``: the
    forwarded client), or with ``ANALYTICS_ALLOW_HTTP``."""
    if settings.allow_http or request.is_secure:
        return True
    client = address(request.remote_addr)
    return client is not None and client.is_loopback


def security_headers(response: Response) -> Response:
    """The headers every response of the app gets (see the module docstring)."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    if "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"  # passwords, personal data, raw events
    if request.blueprint == ADMIN_BLUEPRINT:
        headers["Content-Security-Policy"] = ADMIN_CSP
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
    else:
        headers.setdefault("Content-Security-Policy", API_CSP)
    return response


def init_app(app: Flask, settings: config.Settings) -> None:
    """Apply the trusted proxies (outermost, so every layer sees the client)
    and the security headers to ``app``."""
    app.after_request(security_headers)
    app.wsgi_app = TrustedProxies(app.wsgi_app, settings.trusted_proxies)  # type: ignore[method-assign]
