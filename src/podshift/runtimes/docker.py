"""Docker engine through docker-py."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container

from podshift.commands import CommandResult, tar_directory
from podshift.errors import EngineError, EngineUnavailable
from podshift.images import ensure_helper_image
from podshift.runtimes.base import (
    HELPER_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
    ContainerInfo,
    EngineInfo,
    ImageInfo,
    Mount,
    NetworkInfo,
    Runtime,
    VolumeInfo,
    helper_is_stale,
    helper_labels,
)
from podshift.runtimes.transport import docker_client

DEFAULT_SOCKET = "/var/run/docker.sock"
START_HINT = (
    "Start the daemon (`systemctl start docker`, or `sudo scripts/provision-engines.sh` "
    "which runs dockerd in the background), or point DOCKER_HOST at a running one."
)
REMOTE_HINT = "Check that the daemon DOCKER_HOST names runs and accepts connections, or unset DOCKER_HOST."


def access_hint(socket: str) -> str:
    """What a user without access to Docker's socket can do (the daemon runs; it is not theirs to use)."""
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = str(os.geteuid())
    return (
        f"The daemon runs, but {user} may not use {socket}: join the `docker` group "
        f"(`sudo usermod -aG docker {user}`, then log in again), or run podshift as root with "
        f"--rootless-user {user}."
    )


_CONNECTION_ERRORS = (docker.errors.DockerException, requests.exceptions.ConnectionError, OSError)


def _container_info(c: Container) -> ContainerInfo:
    attrs: dict[str, Any] = c.attrs
    state = attrs.get("State", {})
    health = (state.get("Health") or {}).get("Status")
    labels = attrs.get("Config", {}).get("Labels") or {}
    return ContainerInfo(
        id=c.id or "",
        name=c.name or "",
        image=attrs.get("Config", {}).get("Image", ""),
        status=state.get("Status", ""),
        health=health,
        service=labels.get(SERVICE_LABEL),
        labels=labels,
        volumes=tuple(m["Name"] for m in attrs.get("Mounts") or [] if m.get("Type") == "volume" and m.get("Name")),
        writable_volumes=tuple(
            m["Name"]
            for m in attrs.get("Mounts") or []
            if m.get("Type") == "volume" and m.get("Name") and m.get("RW", True)
        ),
    )


class DockerRuntime(Runtime):
    """The Docker engine: *socket*, else ``DOCKER_HOST`` as docker-py reads it (unix, tcp, ssh), else the default."""

    engine: ClassVar[str] = "docker"

    def __init__(self, socket: str | None = None) -> None:
        host = os.environ.get("DOCKER_HOST", "")
        address = f"unix://{socket}" if socket else (host or f"unix://{DEFAULT_SOCKET}")
        path = address.removeprefix("unix://") if address.startswith("unix://") else ""
        super().__init__(path, rootless=False, address=address)
        self._client: docker.DockerClient | None = None

    # -- connection --------------------------------------------------------------
    @property
    def client(self) -> docker.DockerClient:
        """The docker-py client, connected on first use."""
        if self._client is None:
            try:
                if self.socket:
                    self._client = docker_client(self.socket, timeout=120)  # closes a failed connect's socket
                else:  # DOCKER_HOST and its TLS settings (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), as docker-py reads them
                    self._client = docker.from_env(timeout=120, use_ssh_client=self.address.startswith("ssh://"))
            except _CONNECTION_ERRORS as e:
                raise self._unavailable(e) from e
        return self._client

    def _hint(self, reason: str) -> str:
        if not self.socket:
            return REMOTE_HINT
        if reason.startswith("permission denied"):
            return access_hint(self.socket)
        return START_HINT

    def _unavailable(self, e: BaseException) -> EngineUnavailable:
        reason = str(e).split("(Caused by")[0].strip() or type(e).__name__
        if self.socket and not Path(self.socket).exists():
            reason = "the socket does not exist"
        return EngineUnavailable("docker", self.where, reason, self._hint(reason))

    def ping(self) -> None:
        reason = self.probe_socket()
        if reason is not None:
            raise EngineUnavailable(self.label, self.where, reason, self._hint(reason))
        try:
            self.client.ping()
        except _CONNECTION_ERRORS as e:
            self.close()
            raise self._unavailable(e) from e

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def info(self) -> EngineInfo:
        try:
            info: dict[str, Any] = self.client.info()
            version: dict[str, Any] = self.client.version()
        except _CONNECTION_ERRORS as e:
            raise self._unavailable(e) from e
        return EngineInfo(
            engine="docker",
            version=str(version.get("Version", "")),
            api_version=str(version.get("ApiVersion", "")),
            os=str(info.get("OperatingSystem", "")),
            kernel=str(info.get("KernelVersion", "")),
            storage_driver=str(info.get("Driver", "")),
            cgroup_version=str(info.get("CgroupVersion", "")),
            oci_runtime=str(info.get("DefaultRuntime", "")),
            rootless="rootless" in (info.get("SecurityOptions") or []),
            warnings=tuple(info.get("Warnings") or ()),
        )

    def version(self) -> tuple[str, str]:
        try:
            v: dict[str, Any] = self.client.version()
        except _CONNECTION_ERRORS as e:
            raise self._unavailable(e) from e
        return str(v.get("Version", "")), str(v.get("ApiVersion", ""))

    # -- project objects ------------------------------------------------------------
    def project_containers(self, project: str) -> list[ContainerInfo]:
        found = self.client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
        return [_container_info(c) for c in found]

    def containers_mounting(self, volume: str) -> list[ContainerInfo]:
        # The low-level list's summaries carry state, labels and mounts: inspecting each container
        # afterwards could 404 on one that another process (another podshift's helper) just removed.
        result = []
        for c in self.client.api.containers(all=True, filters={"volume": volume}):
            labels = c.get("Labels") or {}
            mounts = [m for m in c.get("Mounts") or [] if m.get("Type") == "volume" and m.get("Name")]
            result.append(
                ContainerInfo(
                    id=c.get("Id", ""),
                    name=((c.get("Names") or [""])[0]).lstrip("/"),
                    image=c.get("Image", ""),
                    status=c.get("State", ""),
                    health=None,
                    service=labels.get(SERVICE_LABEL),
                    labels=labels,
                    volumes=tuple(m["Name"] for m in mounts),
                    writable_volumes=tuple(m["Name"] for m in mounts if m.get("RW", True)),
                )
            )
        return result

    def project_volumes(self, project: str) -> list[VolumeInfo]:
        found = self.client.volumes.list(filters={"label": f"{PROJECT_LABEL}={project}"})
        return [VolumeInfo.from_attrs(v.attrs) for v in found]

    def project_networks(self, project: str) -> list[NetworkInfo]:
        found = self.client.networks.list(filters={"label": f"{PROJECT_LABEL}={project}"})
        result = []
        for n in found:
            ipam = (n.attrs.get("IPAM") or {}).get("Config") or []
            result.append(
                NetworkInfo(
                    id=n.id or "",
                    name=n.name or "",
                    driver=n.attrs.get("Driver", ""),
                    subnets=tuple(c["Subnet"] for c in ipam if "Subnet" in c),
                    labels=n.attrs.get("Labels") or {},
                )
            )
        return result

    # -- volumes -----------------------------------------------------------------------
    def volume(self, name: str) -> VolumeInfo | None:
        try:
            return VolumeInfo.from_attrs(self.client.volumes.get(name).attrs)
        except docker.errors.NotFound:
            return None

    def _create_volume(self, name: str, labels: dict[str, str]) -> VolumeInfo:
        v = self.client.volumes.create(name=name, labels=labels)
        return VolumeInfo.from_attrs(v.attrs)

    def volume_sizes(self) -> dict[str, int]:
        # dockerd runs one disk-usage scan at a time and answers any concurrent one with
        # 500 "a disk usage operation is already running": wait for the other scan instead.
        deadline = time.monotonic() + 60
        while True:
            try:
                volumes = self.client.df().get("Volumes") or []
                break
            except docker.errors.APIError as e:
                if "already running" not in str(e.explanation or e) or time.monotonic() > deadline:
                    raise EngineError("docker", "disk usage", str(e.explanation or e)) from e
                time.sleep(0.5)
        return {v["Name"]: int((v.get("UsageData") or {}).get("Size", 0) or 0) for v in volumes}

    def remove_stale_helpers(self) -> None:
        """Remove podshift's helper containers whose creating process died (an interrupted run)."""
        # The low-level list: the high-level one inspects each container after listing, and
        # another podshift process may remove its own helper in between (a 404 mid-list).
        for c in self.client.api.containers(all=True, filters={"label": HELPER_LABEL}):
            if c.get("State") != "running" and helper_is_stale(c.get("Labels") or {}):
                self.remove_container(c["Id"])

    def volume_remove(self, name: str, *, force: bool = False) -> None:
        if force:
            self.remove_stale_helpers()  # an interrupted export's helper would pin the volume
        try:
            self.client.volumes.get(name).remove(force=force)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            raise EngineError("docker", f"remove volume {name}", str(e.explanation or e)) from e

    def _helper(self, volume: str, read_only: bool) -> Container:
        """A created (never started) container that mounts *volume* at /volume."""
        image = ensure_helper_image(self)
        return self.client.containers.create(
            image,
            ["true"],
            volumes={volume: {"bind": "/volume", "mode": "ro" if read_only else "rw"}},
            labels=helper_labels("volume-io"),
            network_disabled=True,
        )

    def direct_path(self, volume: VolumeInfo) -> Path | None:
        """The volume's directory when this process may read it as the container sees it, else None.

        Root, the local driver, and no user-namespace remapping (which would
        shift owners between the host and the container).
        """
        if os.geteuid() != 0 or not self.socket or volume.driver != "local" or not volume.mountpoint:
            return None
        path = Path(volume.mountpoint)
        if not path.is_dir():
            return None
        if any("userns" in opt for opt in (self.client.info().get("SecurityOptions") or [])):
            return None
        return path

    def volume_export(self, name: str) -> Iterator[bytes]:
        volume = self.volume(name)
        if volume is None:
            raise EngineError("docker", f"export volume {name}", "no such volume")
        direct = self.direct_path(volume)
        if direct is not None and shutil.which("tar"):
            # GNU tar on the volume directory: several times faster than the archive API.
            yield from tar_directory(direct)
            return
        # The archive API streams at ~340 MB/s here, where reading a
        # container's attached stdout manages ~50 MB/s (shared/ENGINES.md).
        helper = self._helper(name, read_only=True)
        try:
            stream, _stat = helper.get_archive("/volume/.", chunk_size=1 << 20)
            yield from stream
        finally:
            helper.remove(force=True)

    def volume_import(self, name: str, tar_stream: Iterable[bytes]) -> None:
        if self.volume(name) is None:
            raise EngineError("docker", f"import into volume {name}", "no such volume")
        helper = self._helper(name, read_only=False)
        try:
            if not helper.put_archive("/volume", _IterStream(tar_stream)):
                raise EngineError("docker", f"import into volume {name}", "the engine refused the archive")
        except docker.errors.APIError as e:
            raise EngineError("docker", f"import into volume {name}", str(e.explanation or e)) from e
        finally:
            helper.remove(force=True)

    # -- images --------------------------------------------------------------------------
    def image(self, ref: str) -> ImageInfo | None:
        try:
            img = self.client.images.get(ref)
        except docker.errors.ImageNotFound:
            return None
        return ImageInfo(id=img.id or "", tags=tuple(img.tags))

    def image_build(self, context: Path, tag: str, dockerfile: str | None = None) -> ImageInfo:
        try:
            img, _logs = self.client.images.build(
                path=str(context), tag=tag, dockerfile=dockerfile, pull=False, rm=True
            )
        except docker.errors.BuildError as e:
            tail = "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in e.build_log)[-1500:]
            raise EngineError("docker", f"build {tag}", f"{e.msg}\n{tail}") from e
        return ImageInfo(id=img.id or "", tags=tuple(img.tags))

    def image_import(self, rootfs_tar: Path, tag: str, changes: Sequence[str] = ()) -> ImageInfo:
        repo, _, version = tag.rpartition(":")
        self.client.api.import_image(src=str(rootfs_tar), repository=repo, tag=version, changes=list(changes))
        info = self.image(tag)
        if info is None:
            raise EngineError("docker", f"import {tag}", "image not present after import")
        return info

    def image_remove(self, ref: str) -> None:
        with contextlib.suppress(docker.errors.ImageNotFound):
            self.client.images.remove(ref, force=True)

    # -- containers ------------------------------------------------------------------------
    def _container(self, name: str) -> Container:
        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound as e:
            raise EngineError("docker", f"find container {name}", "no such container") from e

    def exec(self, container: str, argv: Sequence[str], *, user: str | None = None) -> CommandResult:
        rc, (out, err) = self._container(container).exec_run(list(argv), user=user or "", demux=True)
        return CommandResult(
            tuple(argv), int(rc), (out or b"").decode("utf-8", "replace"), (err or b"").decode("utf-8", "replace")
        )

    def run(
        self,
        image: str,
        argv: Sequence[str],
        *,
        mounts: Sequence[Mount] = (),
        user: str | None = None,
    ) -> CommandResult:
        volumes = {m.source: {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in mounts}
        # Helpers never need a network (and so never depend on the host's network setup).
        c = self.client.containers.create(
            image, list(argv), volumes=volumes, user=user or "", labels=helper_labels("run"), network_disabled=True
        )
        try:
            c.start()
            status = c.wait(timeout=300)
            out = c.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            err = c.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            return CommandResult(tuple(argv), int(status.get("StatusCode", -1)), out, err)
        finally:
            c.remove(force=True)

    def stop(self, container: str, timeout: int = 10) -> None:
        c = self._container(container)
        if c.status == "running":
            c.stop(timeout=timeout)

    def start(self, container: str) -> None:
        c = self._container(container)
        if c.status != "running":
            c.start()

    def remove_container(self, container: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.client.containers.get(container).remove(force=True)


class _IterStream:
    """A read()-able view of an iterable of byte chunks, for streaming uploads."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def __iter__(self) -> Iterator[bytes]:
        if self._buf:
            yield self._buf
            self._buf = b""
        yield from self._it

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            try:
                self._buf += next(self._it)
            except StopIteration:
                break
        if size < 0:
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:size], self._buf[size:]
        return data
