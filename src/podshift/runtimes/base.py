"""The one interface podshift uses to talk to a container engine.

Concrete engines live next to this module (``docker.py``, ``podman.py``);
everything above this layer (checks, backup, migration, rollback) is written
against :class:`Runtime` only, so the same code reads Docker volumes for a
backup and Podman volumes for a rollback.
"""

from __future__ import annotations

import abc
import os
import socket
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from podshift.commands import CommandResult
from podshift.errors import EngineError

#: Label that Docker Compose v2 and podman-compose both put on what they create.
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
#: Label podshift puts on helper objects it creates, so that they can be found and removed.
HELPER_LABEL = "io.podshift.helper"
#: Who created a helper ("<host>:<pid>"), so that only helpers of dead processes count as stale.
OWNER_LABEL = "io.podshift.owner"


def helper_labels(kind: str) -> dict[str, str]:
    return {HELPER_LABEL: kind, OWNER_LABEL: f"{socket.gethostname()}:{os.getpid()}"}


def helper_is_stale(labels: Mapping[str, str]) -> bool:
    """A helper whose creating podshift process (on this host) is gone."""
    host, _, pid = labels.get(OWNER_LABEL, ":").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another host's, or unknown: not ours to judge
    return not os.path.exists(f"/proc/{pid}")


@dataclass(frozen=True)
class EngineInfo:
    """Facts about a running engine, as it reports them."""

    engine: str
    version: str
    api_version: str
    os: str
    kernel: str
    storage_driver: str
    cgroup_version: str
    oci_runtime: str
    rootless: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    image: str
    status: str
    health: str | None
    service: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    #: names of the named volumes the container mounts
    volumes: tuple[str, ...] = ()
    #: those of :attr:`volumes` it mounts read-write
    writable_volumes: tuple[str, ...] = ()


@dataclass(frozen=True)
class VolumeInfo:
    name: str
    driver: str
    mountpoint: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> VolumeInfo:
        """From a volume's inspect data (Docker's and Podman's use the same keys)."""
        return cls(
            name=attrs["Name"],
            driver=attrs.get("Driver", ""),
            mountpoint=attrs.get("Mountpoint", ""),
            labels=attrs.get("Labels") or {},
        )


@dataclass(frozen=True)
class NetworkInfo:
    id: str
    name: str
    driver: str
    subnets: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Mount:
    """A volume or host path mounted into a helper container."""

    source: str
    target: str
    read_only: bool = False


class Runtime(abc.ABC):
    """A container engine reached through its API (and its CLI where the API has no equivalent)."""

    #: "docker" or "podman"
    engine: ClassVar[str]

    def __init__(self, socket: str, *, rootless: bool = False, address: str | None = None) -> None:
        #: the local unix socket's path; "" when the engine is reached another way (tcp://, ssh://)
        self.socket = socket
        #: where the engine is, as DOCKER_HOST/CONTAINER_HOST spell it (``unix:///run/...``, ``tcp://...``)
        self.address = address or f"unix://{socket}"
        self.rootless = rootless

    def __repr__(self) -> str:
        mode = " rootless" if self.rootless else ""
        return f"<{type(self).__name__}{mode} {self.address}>"

    @property
    def where(self) -> str:
        """The socket path for a local engine, else its address: what messages name."""
        return self.socket or self.address

    def probe_socket(self) -> str | None:
        """Why the engine's socket cannot be connected to, or None when something listens.

        Checked before an API client is made: docker-py leaks its socket
        when its constructor's version probe fails, and a plain connect
        gives the clearer reason (missing, refused, permission denied).
        A ``tcp://`` address is probed the same way; ``ssh://`` is left to
        the client (the connection is the ssh program's).
        """
        if not self.socket:
            return self._probe_tcp()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(self.socket)
        except FileNotFoundError:
            return "the socket does not exist"
        except PermissionError:
            return "permission denied (is this user allowed to use it?)"
        except ConnectionRefusedError:
            return "connection refused (nothing is listening)"
        except OSError as e:
            return e.strerror or str(e)
        finally:
            s.close()
        return None

    def _probe_tcp(self) -> str | None:
        url = urllib.parse.urlsplit(self.address)
        if url.scheme not in ("tcp", "http", "https"):
            return None
        try:
            port = url.port
        except ValueError:
            return f"not a valid address: {self.address}"
        try:
            with socket.create_connection((url.hostname or "127.0.0.1", port or 2375), timeout=5):
                return None
        except ConnectionRefusedError:
            return "connection refused (nothing is listening)"
        except OSError as e:
            return e.strerror or str(e)

    @property
    def label(self) -> str:
        """Human name, e.g. ``podman (rootless)``."""
        return f"{self.engine} (rootless)" if self.rootless else self.engine

    # -- engine ---------------------------------------------------------------
    @abc.abstractmethod
    def ping(self) -> None:
        """Raise :class:`~podshift.errors.EngineUnavailable` unless the engine answers."""

    @abc.abstractmethod
    def info(self) -> EngineInfo:
        """Version and host facts as the engine reports them."""

    @abc.abstractmethod
    def version(self) -> tuple[str, str]:
        """(engine version, API version): cheaper than :meth:`info`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""

    # -- a compose project's objects -------------------------------------------
    @abc.abstractmethod
    def project_containers(self, project: str) -> list[ContainerInfo]:
        """Every container (running or not) labelled with compose project *project*."""

    def containers_using(self, volume: str, project: str) -> list[ContainerInfo]:
        """The project's containers that mount *volume*."""
        return [c for c in self.project_containers(project) if volume in c.volumes]

    def containers_mounting(self, volume: str) -> list[ContainerInfo]:
        """Every container, of any project or none, that mounts *volume* (engines without the filter: none)."""
        return []

    @abc.abstractmethod
    def project_volumes(self, project: str) -> list[VolumeInfo]:
        """Named volumes labelled with compose project *project*."""

    @abc.abstractmethod
    def project_networks(self, project: str) -> list[NetworkInfo]:
        """Networks labelled with compose project *project*."""

    def project_images(self, project: str) -> list[ImageInfo]:
        """Images used by the project's containers."""
        wanted = {c.image for c in self.project_containers(project)}
        return [img for ref in sorted(wanted) if (img := self.image(ref)) is not None]

    # -- volumes ----------------------------------------------------------------
    @abc.abstractmethod
    def volume(self, name: str) -> VolumeInfo | None:
        """The volume called *name*, or None."""

    def volume_create(self, name: str, labels: Mapping[str, str] | None = None) -> VolumeInfo:
        """Create an empty named volume (an existing one is an error)."""
        if self.volume(name) is not None:
            raise EngineError(self.label, f"create volume {name}", "a volume of that name already exists")
        return self._create_volume(name, dict(labels or {}))

    @abc.abstractmethod
    def _create_volume(self, name: str, labels: dict[str, str]) -> VolumeInfo:
        """Create volume *name* (it is known not to exist)."""

    def volume_sizes(self) -> dict[str, int]:
        """Bytes used by each volume, where the engine reports it cheaply (else empty)."""
        return {}

    @abc.abstractmethod
    def volume_remove(self, name: str, *, force: bool = False) -> None:
        """Remove a volume; a missing one is not an error."""

    @abc.abstractmethod
    def volume_export(self, name: str) -> Iterator[bytes]:
        """The volume's content as a tar stream, paths relative to the volume root."""

    @abc.abstractmethod
    def volume_import(self, name: str, tar_stream: Iterable[bytes]) -> None:
        """Unpack a tar stream (as produced by :meth:`volume_export`) into volume *name*."""

    # -- images -----------------------------------------------------------------
    @abc.abstractmethod
    def image(self, ref: str) -> ImageInfo | None:
        """The local image *ref*, or None (never pulls)."""

    @abc.abstractmethod
    def image_build(self, context: Path, tag: str, dockerfile: str | None = None) -> ImageInfo:
        """Build *context* into *tag* from local images only."""

    @abc.abstractmethod
    def image_import(self, rootfs_tar: Path, tag: str, changes: Sequence[str] = ()) -> ImageInfo:
        """Import a root filesystem tarball as image *tag* (``docker import``)."""

    @abc.abstractmethod
    def image_remove(self, ref: str) -> None:
        """Remove a local image; a missing one is not an error."""

    # -- containers ---------------------------------------------------------------
    @abc.abstractmethod
    def exec(self, container: str, argv: Sequence[str], *, user: str | None = None) -> CommandResult:
        """Run *argv* inside a running container."""

    @abc.abstractmethod
    def run(
        self,
        image: str,
        argv: Sequence[str],
        *,
        mounts: Sequence[Mount] = (),
        user: str | None = None,
    ) -> CommandResult:
        """Run a short-lived helper container to completion and remove it (never pulls)."""

    @abc.abstractmethod
    def stop(self, container: str, timeout: int = 10) -> None:
        """Stop a container; a stopped one is left alone."""

    @abc.abstractmethod
    def start(self, container: str) -> None:
        """Start a container; a running one is left alone."""

    def direct_path(self, volume: VolumeInfo) -> Path | None:
        """The volume's directory when this process may read it exactly as containers see it, else None."""
        return None

    def remove_stale_helpers(self) -> None:  # noqa: B027 - engines without persistent helpers need nothing
        """Remove helper containers an interrupted podshift run left behind."""

    @abc.abstractmethod
    def remove_container(self, container: str) -> None:
        """Remove a container (force); a missing one is not an error."""
