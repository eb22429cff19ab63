"""The page's outer wall: who may talk to it, how much they may send, what the browser may run.

One ASGI middleware, in front of every route, so no endpoint can forget a check:

* **Loopback unless a token is set.** Without a token the server only answers
  peers on a loopback address, and only under a loopback ``Host`` header — the
  second check stops DNS rebinding, where a web page the user visits points its
  own host name at 127.0.0.1 and reads the answers. With a token every request
  carries it (``Authorization: Bearer``, or the cookie set by opening the page
  once with ``?token=``), compared in constant time.
* **No cross-site posts.** A POST whose ``Origin`` or ``Sec-Fetch-Site`` says it
  came from another site is refused, so a page elsewhere cannot make the user's
  browser upload to this server.
* **Upload cap while streaming.** A declared ``Content-Length`` over the cap is
  refused before a byte is read; otherwise the body is counted as it arrives and
  reading stops (``UploadTooLarge``) the moment it passes the cap.
* **Strict headers on every response**: a Content-Security-Policy that allows
  only this server's own script and style (no inline code, no other origin), no
  framing, no sniffing, no referrer, no caching of results.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import URL, Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "feocscreen_token"
LOOPBACK_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class UploadTooLarge(Exception):
    """The request body passed the configured cap while it was being read."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"The upload is larger than the {format_bytes(limit_bytes)} limit.")
        self.limit_bytes = limit_bytes


def format_bytes(size: int) -> str:
    """25 MB, 512 KB, 900 bytes: the cap as people read it."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    if size >= 1024:
        return f"{size / 1024:.3g} KB"
    return f"{size} bytes"


def is_loopback_host(host: str) -> bool:
    """True for localhost and any loopback IP (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The host part of a Host header, lower-cased, without port or IPv6 brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class RequestGuard:
    """ASGI middleware enforcing the token/loopback rule, same-origin posts, the body cap and headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        max_body_bytes: int,
        allowed_hosts: Iterable[str] | None = None,
    ) -> None:
        self.app = app
        self.token = token or None
        self.max_body_bytes = max_body_bytes
        # With a token the server may be reached under any name; without one only loopback names.
        self.allowed_hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send)
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, code, message, extra = refusal
            await _problem(scope, send, headers, status, code, message, extra)
            return
        if self.token and _query_token(scope) is not None:
            await self._accept_query_token(scope, send)
            return
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            message = str(UploadTooLarge(self.max_body_bytes))
            await _problem(scope, send, headers, 413, "upload-too-large", message, {})
            return
        await self.app(scope, _counting(receive, self.max_body_bytes), send)

    def _refusal(
        self, scope: Scope, headers: Headers
    ) -> tuple[int, str, str, dict[str, str]] | None:
        host = host_name(headers.get("host", ""))
        if not host:
            return 400, "bad-host", "The request has no valid Host header.", {}
        if self.allowed_hosts is not None:
            if host not in self.allowed_hosts:
                return (
                    403,
                    "bad-host",
                    "This server only answers under its own loopback address.",
                    {},
                )
        elif not self.token and not is_loopback_host(host):
            return 403, "bad-host", "This server only answers under its own loopback address.", {}
        client = scope.get("client")
        if not self.token and client and not is_loopback_host(str(client[0])):
            return 403, "not-loopback", "Without a token this server only answers this machine.", {}
        if self.token and not self._authorised(scope, headers):
            challenge = {"WWW-Authenticate": 'Bearer realm="feocscreen"'}
            message = (
                "This server needs its access token: send 'Authorization: Bearer TOKEN', "
                "or open the page once as /?token=TOKEN."
            )
            return 401, "token-required", message, challenge
        if scope["method"] in UNSAFE_METHODS and _cross_site(headers):
            return 403, "cross-site", "Uploads are only accepted from this server's own page.", {}
        return None

    def _authorised(self, scope: Scope, headers: Headers) -> bool:
        assert self.token is not None
        offered: list[str] = []
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            offered.append(authorization[7:].strip())
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is the same as no cookie
            cookie = SimpleCookie()
        if TOKEN_COOKIE in cookie:
            offered.append(cookie[TOKEN_COOKIE].value)
        query = _query_token(scope)
        if query is not None and scope["method"] == "GET":
            offered.append(query)
        expected = self.token.encode()
        return any(hmac.compare_digest(o.encode(), expected) for o in offered)

    async def _accept_query_token(self, scope: Scope, send: Send) -> None:
        """Trade ``?token=`` for a same-site cookie and drop it from the address bar."""
        url = URL(scope=scope)
        kept = [(k, v) for k, v in _query_items(scope) if k != "token"]
        target = url.path + ("?" + urlencode(kept) if kept else "")
        cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", target.encode("latin-1")),
                    (b"set-cookie", cookie.encode("latin-1")),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _query_items(scope: Scope) -> list[tuple[str, str]]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return parse_qsl(raw, keep_blank_values=True)


def _query_token(scope: Scope) -> str | None:
    for key, value in _query_items(scope):
        if key == "token":
            return value
    return None


def _cross_site(headers: Headers) -> bool:
    if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = headers.get("origin")
    if origin is None:
        return False  # not a browser form post from another page (curl, scripts, tests)
    if origin == "null":
        return True
    return urlsplit(origin).netloc.lower() != headers.get("host", "").lower()


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise UploadTooLarge(limit)
        return message

    return counted


def _with_security_headers(send: Send) -> Send:
    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS.items():
                if name not in headers:
                    headers[name] = value
        await send(message)

    return secured


async def _problem(
    scope: Scope,
    send: Send,
    headers: Headers,
    status: int,
    code: str,
    message: str,
    extra: dict[str, str],
) -> None:
    """A refusal in the caller's language: a tiny HTML page for browsers, JSON otherwise."""
    if "text/html" in headers.get("accept", "") and not scope["path"].startswith("/api/"):
        body = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>feocscreen</title>"
            f"<p>{_escape(message)}</p></html>"
        ).encode()
        media = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"error": {"code": code, "message": message, "issues": []}}).encode()
        media = b"application/json"
    raw = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
    if status == 413:
        raw.append((b"connection", b"close"))  # the rest of the body is not wanted
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _escape(text: str) -> str:
    return html.escape(text, quote=True)
