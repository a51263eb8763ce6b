"""Same-origin check for websockets: the page's Origin must match the socket's own scheme, host
and port. AllowedHostsOriginValidator compares the host name only, so a page on another port of
an allowed host (127.0.0.1:9999) could open a socket with the victim's cookies."""

from urllib.parse import urlsplit

from django.conf import settings

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _header(scope: dict, name: bytes) -> str:
    return next((value.decode("latin-1") for key, value in scope.get("headers", []) if key == name), "")


def _scheme(scope: dict) -> str:
    """http or https, as the browser sees this socket (behind a TLS proxy only when configured)."""
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy and _header(scope, proxy[0].removeprefix("HTTP_").lower().replace("_", "-").encode()) == proxy[1]:
        return "https"
    return "https" if scope.get("scheme") in ("wss", "https") else "http"


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        return (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:  # a port that is no number
        return None


def same_origin(scope: dict) -> bool:
    """Whether the Origin header names exactly this socket's scheme, host and port."""
    origin, host = urlsplit(_header(scope, b"origin")), _header(scope, b"host")
    scheme = _scheme(scope)
    if origin.scheme != scheme or not host:
        return False
    mine = _host_port(host, scheme)
    return mine is not None and _host_port(origin.netloc, scheme) == mine
