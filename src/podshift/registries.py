"""Which registry an image comes from, and whether that registry answers at all.

A registry "answers" when its ``/v2/`` endpoint gives any HTTP response
(200, or 401 asking for a token): it is there, whatever a pull would then
need.  A refused connection, a name that does not resolve or a timeout
means a pull cannot work from this host now.
"""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass

#: What Docker and Podman mean by a name without a registry.
DOCKER_HUB = "docker.io"
_HUB_ENDPOINT = "registry-1.docker.io"


def is_qualified(image: str) -> bool:
    """``registry.example/app:1``, ``localhost/app``, ``127.0.0.1:5000/app``: the name says where it lives."""
    first = image.split("/", 1)[0]
    return "/" in image and ("." in first or ":" in first or first == "localhost")


def registry_of(image: str) -> str | None:
    """The registry host of a fully-qualified name (None: unqualified; ``localhost``: local only)."""
    return image.split("/", 1)[0] if is_qualified(image) else None


@dataclass(frozen=True)
class RegistryProbe:
    registry: str
    answers: bool
    detail: str


def probe(registry: str, timeout: float = 3.0) -> RegistryProbe:
    """GET ``/v2/`` over HTTPS (then plain HTTP, as insecure registries serve it); any HTTP answer counts."""
    if registry == "localhost":
        return RegistryProbe(registry, False, "localhost/ names are local images only; nothing pulls them")
    host = _HUB_ENDPOINT if registry == DOCKER_HUB else registry
    name, _, port = host.partition(":")
    errors = []
    for secure in (True, False):
        conn: http.client.HTTPConnection = (
            http.client.HTTPSConnection(name, int(port or 443), timeout=timeout, context=ssl.create_default_context())
            if secure
            else http.client.HTTPConnection(name, int(port or 80), timeout=timeout)
        )
        try:
            conn.request("GET", "/v2/")
            status = conn.getresponse().status
            return RegistryProbe(registry, True, f"{'https' if secure else 'http'}://{host}/v2/ answered {status}")
        except (OSError, http.client.HTTPException) as e:  # TimeoutError is an OSError
            errors.append(
                f"{'https' if secure else 'http'}: {e.strerror if isinstance(e, OSError) and e.strerror else e}"
            )
        finally:
            conn.close()
    return RegistryProbe(registry, False, "; ".join(errors))
