"""Unix-socket transports for docker-py and podman-py that close their socket when a connect fails.

Both libraries create the socket in ``connect()`` and, when ``connect(2)``
fails (engine down, restarting, socket refused), drop it unclosed
(docker/docker-py#3356, still open; podman-py's ``UDSConnection`` likewise).
The exception's traceback keeps the socket in a reference cycle, so it is
only finalized at some later garbage collection, wherever that happens: under
``filterwarnings = error`` that is a ``ResourceWarning`` raised in whatever
code runs then (an unrelated test, or an in-process pytester session).

The subclasses below change only ``connect()``; pooling and requests are
the libraries' own.
"""

from __future__ import annotations

import socket
from typing import Any

import docker
import podman
from docker.constants import DEFAULT_MAX_POOL_SIZE, DEFAULT_NUM_POOLS, MINIMUM_DOCKER_API_VERSION
from docker.transport.unixconn import UnixHTTPAdapter, UnixHTTPConnection, UnixHTTPConnectionPool
from podman.api.uds import UDSAdapter, UDSConnection, UDSConnectionPool, UDSSocket


# -- docker-py ------------------------------------------------------------------------------------
class _DockerUnixConnection(UnixHTTPConnection):  # type: ignore[misc]  # docker-py is untyped
    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.unix_socket)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class _DockerUnixConnectionPool(UnixHTTPConnectionPool):  # type: ignore[misc]
    def _new_conn(self) -> _DockerUnixConnection:
        return _DockerUnixConnection(self.base_url, self.socket_path, self.timeout)


class _DockerUnixAdapter(UnixHTTPAdapter):  # type: ignore[misc]
    def get_connection(self, url: str, proxies: Any = None) -> _DockerUnixConnectionPool:
        # UnixHTTPAdapter.get_connection, with the pool class above.
        with self.pools.lock:
            pool: _DockerUnixConnectionPool | None = self.pools.get(url)
            if pool is None:
                pool = _DockerUnixConnectionPool(url, self.socket_path, self.timeout, maxsize=self.max_pool_size)
                self.pools[url] = pool
        return pool


def _docker_client(path: str, timeout: int, version: str) -> docker.DockerClient:
    # With an explicit version the constructor makes no request, so the
    # stock adapter is replaced before it has opened any socket.
    client = docker.DockerClient(base_url=f"unix://{path}", version=version, timeout=timeout)
    adapter = _DockerUnixAdapter(
        f"http+unix://{path}", timeout, pool_connections=DEFAULT_NUM_POOLS, max_pool_size=DEFAULT_MAX_POOL_SIZE
    )
    client.api.mount("http+docker://", adapter)
    return client


def docker_client(path: str, timeout: int) -> docker.DockerClient:
    """A docker-py client on the unix socket *path*, speaking the server's API version.

    The version is negotiated as docker-py's ``version="auto"`` does (``GET
    /version``), but through the closing transport: docker-py's own probe in
    its constructor would leak its socket when the engine is down.
    """
    probe = _docker_client(path, timeout, MINIMUM_DOCKER_API_VERSION)
    try:
        version = str(probe.api.version(api_version=False)["ApiVersion"])
    finally:
        probe.close()
    return _docker_client(path, timeout, version)


# -- podman-py ------------------------------------------------------------------------------------
class _PodmanUnixConnection(UDSConnection):
    def connect(self) -> None:
        sock = UDSSocket(self.uds)
        try:
            sock.settimeout(self.timeout)
            sock.connect()  # type: ignore[no-untyped-call]  # podman-py leaves it untyped
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class _PodmanUnixConnectionPool(UDSConnectionPool):
    ConnectionCls = _PodmanUnixConnection


class _PodmanUnixAdapter(UDSAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[no-untyped-call]
        manager = self.poolmanager
        if manager is not None:  # UDSPoolManager maps schemes to pool classes per instance
            manager.pool_classes_by_scheme = dict.fromkeys(manager.pool_classes_by_scheme, _PodmanUnixConnectionPool)


def podman_client(path: str, timeout: int) -> podman.PodmanClient:
    """A podman-py client on the unix socket *path* (it connects on first use, not here)."""
    client = podman.PodmanClient(base_url=f"unix://{path}", timeout=timeout)
    uds = client.api.base_url.geturl()  # the socket address in podman-py's own form
    for prefix in ("http://", "https://"):  # where podman-py's APIClient mounts its UDSAdapter
        client.api.mount(prefix, _PodmanUnixAdapter(uds, timeout=timeout))
    return client
