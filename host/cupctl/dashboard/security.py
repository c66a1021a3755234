"""Who may ask the dashboard what.

- Off loopback every request and the websocket need the access token: ``Authorization: Bearer``,
  the cookie that opening the printed ``/?token=...`` address sets (HttpOnly, SameSite=Strict), or
  ``?token=`` itself. On loopback the token is needed too once one is configured.
- A page on another site must not drive the cups through the browser of someone who has the
  dashboard open: a request that says it comes from another origin is refused, starting a session
  needs a JSON body (which a plain cross-site form cannot send), and without a token the Host header
  must be a loopback name (so DNS rebinding reaches nothing).
- Stop is never throttled, and the checks here are all the work done before it is written.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from aiohttp import web

from cupctl.dashboard import DashboardError

COOKIE = "cupctl_token"
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8765`` for IPv6) as (host, port)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise DashboardError("--listen %r: expected HOST:PORT, e.g. 127.0.0.1:8765" % text)
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve beyond this machine without an access token."""
    if not is_loopback(host) and not token:
        raise DashboardError("refusing to listen on %s without an access token: set dashboard_token in the config "
                             "file or CUPCTL_DASHBOARD_TOKEN" % host)


def _host_name(value: str) -> str:
    return urlsplit("//" + value).hostname or ""


def _presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE) or request.query.get("token")


def guard(token: str | None, json_posts: tuple[str, ...] = ()):
    """The middleware that applies the rules above; ``json_posts``: routes whose POST must be JSON."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        host = request.headers.get("Host", "")
        origin = request.headers.get("Origin")
        if not token and _host_name(host) not in _LOOPBACK_NAMES:
            raise web.HTTPForbidden(text="this dashboard answers to loopback addresses only (Host %r)" % host)
        if origin is not None and urlsplit(origin).netloc != host:
            raise web.HTTPForbidden(text="requests from another origin (%s) are refused" % origin)
        if token:
            presented = _presented_token(request)
            if presented is None or not hmac.compare_digest(presented.encode(), token.encode()):
                raise web.HTTPUnauthorized(text="access token needed: open the address cupctl dashboard printed "
                                                "(with ?token=...), or send Authorization: Bearer TOKEN")
            if request.method == "GET" and "token" in request.query and request.path == "/":
                # keep the token out of the address bar and history: a cookie carries it from now on
                response = web.HTTPSeeOther("/")
                response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
                raise response
        if request.method == "POST" and request.match_info.route.name in json_posts \
                and request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="send the form as application/json")
        return await handler(request)

    return middleware
