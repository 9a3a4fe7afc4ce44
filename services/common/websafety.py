"""Cross-site and DNS-rebinding checks shared by the API and the standalone bridge.

These hold whatever the authentication setting (`MAELSTROM_AUTH=off` too):

* **Host**: a request is served only when its `Host` names this server — loopback,
  this machine's host names, the address the client connected to, or
  `MAELSTROM_ALLOWED_HOSTS` — so a web page whose DNS name is re-pointed at the
  brewery's Pi (DNS rebinding) gets 421 instead of the API.
* **Origin**: a browser names the page that sent a request in `Origin`. A change
  (POST/PUT/PATCH/DELETE) or a `/ws` connection from a page of another origin is
  refused, whatever its content type: a `text/plain` or form POST needs no CORS
  preflight, so this check is what stops it. Tools (curl, Home Assistant) send no
  `Origin` and are not browsers. `MAELSTROM_ALLOWED_ORIGINS` adds the origin of a
  reverse proxy that rewrites the Host.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import web

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@functools.cache
def machine_names() -> frozenset[str]:
    """This machine's own names (as a LAN's mDNS or DNS knows it), lower case."""
    names: set[str] = set()
    try:
        hostname = socket.gethostname().lower()
        names |= {hostname, f"{hostname}.local", socket.getfqdn().lower()}
        for info in socket.getaddrinfo(hostname, None):
            names.add(str(info[4][0]).lower())
    except OSError:
        pass
    return frozenset(n for n in names if n)


def split_host(host: str) -> str:
    """`Host` without its port, lower case, IPv6 without brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _local_address(request: web.Request) -> str | None:
    transport = request.transport
    if transport is None:
        return None
    sockname = transport.get_extra_info("sockname")
    return str(sockname[0]).lower() if sockname else None


class WebSafety:
    def __init__(self, allowed_hosts: Iterable[str] = (), allowed_origins: Iterable[str] = ()):
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self.any_host = "*" in self.allowed_hosts
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)

    def host_ok(self, request: web.Request) -> bool:
        if self.any_host:
            return True
        host = split_host(request.headers.get("Host", ""))
        if not host:
            return False  # HTTP/1.1 requires it; only a hand-made request lacks it
        if host in LOOPBACK_NAMES or host in self.allowed_hosts or is_loopback(host):
            return True
        return host in machine_names() or host == _local_address(request)

    def origin_ok(self, request: web.Request) -> bool:
        """No Origin (not a browser, or a same-origin GET), or one this server is."""
        origin = request.headers.get("Origin")
        if origin is None:
            # No Origin, but the browser says the request comes from another site.
            return request.headers.get("Sec-Fetch-Site", "same-origin") != "cross-site"
        origin = origin.strip().rstrip("/").lower()
        if origin in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (a sandboxed frame, a file://): never ours
        return parts.netloc == request.headers.get("Host", "").strip().lower()


def refused(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


def host_refused(request: web.Request) -> web.Response:
    return refused(
        421,
        "unknown host",
        f"this server does not answer to Host {request.headers.get('Host', '')[:100]!r}; "
        "add it to MAELSTROM_ALLOWED_HOSTS if it is this server's name",
    )


def origin_refused(request: web.Request) -> web.Response:
    return refused(
        403,
        "cross-site request refused",
        f"a page of {request.headers.get('Origin', 'another site')[:100]!r} may not change "
        "anything here; add a reverse proxy's origin to MAELSTROM_ALLOWED_ORIGINS",
    )
