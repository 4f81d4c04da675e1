"""Podman through podman-py — rootful, or rootless for a given user.

The libpod API is used wherever it has the operation.  The CLI is used where
Podman 4.3's API has no equivalent, or where podman-py would buffer data in
memory: ``podman volume export``/``import`` (streamed through a pipe; the
``/volumes/{name}/export`` endpoint answers 404 on 4.3, and podman-py reads
the whole archive into memory) and ``podman import``.  When podshift runs as
root but drives a rootless user's Podman, CLI calls run as that user
(:class:`~podshift.commands.RunAs`) so that ownership maps through the
user's namespace.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import podman
import podman.errors
import requests.exceptions
from podman.domain.containers import Container

from podshift.commands import CommandResult, RunAs, run
from podshift.errors import CommandError, EngineError, EngineUnavailable, ToolMissing
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
)
from podshift.runtimes.transport import podman_client

ROOTFUL_SOCKET = "/run/podman/podman.sock"
#: podman-compose labels what it creates with this as well as Docker Compose's project label;
#: containers made by hand may carry either, so the project's objects are found by both.
PODMAN_PROJECT_LABEL = "io.podman.compose.project"
_PROJECT_LABELS = (PROJECT_LABEL, PODMAN_PROJECT_LABEL)
#: The Podman service to use instead of the local one (unix, tcp, ssh), as podman-py and `podman --remote` read it.
CONTAINER_HOST_ENV = "CONTAINER_HOST"
_CHUNK = 1 << 20
_CONNECTION_ERRORS = (podman.errors.PodmanError, requests.exceptions.ConnectionError, OSError)


@dataclass(frozen=True)
class PodInfo:
    """A Podman pod (podman-compose puts a project's containers in ``pod_<project>`` unless --in-pod false)."""

    id: str
    name: str
    status: str
    containers: tuple[str, ...]  # names of the containers in it, its infra container included


def rootless_socket(uid: int) -> str:
    """Where a user's rootless API service listens."""
    return f"/run/user/{uid}/podman/podman.sock"


class PodmanRuntime(Runtime):
    """Podman's API service on a unix socket, plus its CLI for what the API lacks."""

    engine: ClassVar[str] = "podman"

    def __init__(
        self, socket: str, *, rootless: bool = False, run_as: RunAs | None = None, address: str | None = None
    ) -> None:
        super().__init__(socket, rootless=rootless, address=address)
        self.run_as = run_as
        self._client: podman.PodmanClient | None = None

    @classmethod
    def rootful(cls) -> PodmanRuntime:
        """Root's Podman (``/run/podman/podman.sock``)."""
        return cls(ROOTFUL_SOCKET, rootless=False)

    @classmethod
    def from_container_host(cls) -> PodmanRuntime | None:
        """The service ``CONTAINER_HOST`` names, or None when it is not set."""
        host = os.environ.get(CONTAINER_HOST_ENV, "")
        if not host:
            return None
        path = host.removeprefix("unix://") if host.startswith("unix://") else ""
        return cls(path, rootless=os.geteuid() != 0, address=host)

    @classmethod
    def for_user(cls, user: str | None = None) -> PodmanRuntime:
        """*user*'s rootless Podman; the invoking user's when *user* is None (``CONTAINER_HOST`` when set)."""
        if user is None:
            named = cls.from_container_host()
            if named is not None:
                return named
            uid = os.geteuid()
            runtime_dir = os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{uid}")
            return cls(f"{runtime_dir}/podman/podman.sock", rootless=True)
        run_as = RunAs(user)
        return cls(rootless_socket(run_as.uid), rootless=True, run_as=run_as)

    @classmethod
    def default(cls) -> PodmanRuntime:
        """``CONTAINER_HOST`` when set; else rootful for root, rootless for anyone else."""
        named = cls.from_container_host()
        if named is not None:
            return named
        return cls.rootful() if os.geteuid() == 0 else cls.for_user()

    # -- connection -------------------------------------------------------------------
    @property
    def start_hint(self) -> str:
        if not self.socket:
            return f"Check that the Podman service {CONTAINER_HOST_ENV} names runs, or unset {CONTAINER_HOST_ENV}."
        if self.run_as is not None:
            user = self.run_as.user
            return (
                f"Start it as {user}: `runuser -u {user} -- env XDG_RUNTIME_DIR={self.run_as.runtime_dir} "
                f"podman system service --time=0 unix://{self.socket} &` "
                f"(or `sudo scripts/provision-engines.sh --rootless-user {user}`)."
            )
        return (
            f"Start it: `podman system service --time=0 unix://{self.socket} &` "
            f"(`mkdir -p {Path(self.socket).parent}` first), or `systemctl "
            f"{'--user ' if self.rootless else ''}start podman.socket`."
        )

    def _unavailable(self, e: BaseException) -> EngineUnavailable:
        reason = str(e).split("(Caused by")[0].strip() or type(e).__name__
        if self.socket and not Path(self.socket).exists():
            reason = "the socket does not exist"
        return EngineUnavailable(self.label, self.where, reason, self.start_hint)

    @property
    def client(self) -> podman.PodmanClient:
        """The podman-py client, created on first use."""
        if self._client is None:
            if self.socket:
                self._client = podman_client(self.socket, timeout=120)  # closes a failed connect's socket
            else:  # CONTAINER_HOST, with its TLS and ssh settings, as podman-py reads them
                self._client = podman.PodmanClient.from_env(timeout=120)
        return self._client

    def ping(self) -> None:
        reason = self.probe_socket()
        if reason is not None:
            raise EngineUnavailable(self.label, self.where, reason, self.start_hint)
        try:
            ok = self.client.ping()
        except _CONNECTION_ERRORS as e:
            self.close()
            raise self._unavailable(e) from e
        if not ok:
            self.close()
            raise self._unavailable(RuntimeError("ping failed"))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()  # type: ignore[no-untyped-call]  # podman-py leaves these untyped
            self._client = None

    def info(self) -> EngineInfo:
        try:
            info: dict[str, Any] = self.client.info()  # type: ignore[no-untyped-call]
            version: dict[str, Any] = self.client.version()  # type: ignore[no-untyped-call]
        except _CONNECTION_ERRORS as e:
            raise self._unavailable(e) from e
        host = info.get("host", {})
        dist = host.get("distribution", {})
        return EngineInfo(
            engine="podman",
            version=str(version.get("Version", "")),
            api_version=str(version.get("ApiVersion", "")),
            os=f"{dist.get('distribution', '')} {dist.get('version', '')}".strip(),
            kernel=str(host.get("kernel", "")),
            storage_driver=str(info.get("store", {}).get("graphDriverName", "")),
            cgroup_version=str(host.get("cgroupVersion", "")),
            oci_runtime=str(host.get("ociRuntime", {}).get("name", "")),
            rootless=bool(host.get("security", {}).get("rootless", self.rootless)),
        )

    def version(self) -> tuple[str, str]:
        try:
            v: dict[str, Any] = self.client.version()  # type: ignore[no-untyped-call]
        except _CONNECTION_ERRORS as e:
            raise self._unavailable(e) from e
        return str(v.get("Version", "")), str(v.get("ApiVersion", ""))

    def cli(self, *args: str, input_bytes: bytes | None = None, timeout: float | None = 600) -> CommandResult:
        """Run ``podman ARGS`` as the engine's user (argv list, never a shell)."""
        return run(["podman", *args], run_as=self.run_as, input_bytes=input_bytes, timeout=timeout)

    # -- project objects ----------------------------------------------------------------
    @staticmethod
    def _container_info(c: Container) -> ContainerInfo:
        attrs: dict[str, Any] = c.attrs
        state = attrs.get("State", {})
        if isinstance(state, str):  # list() gives the short form
            state = {"Status": state}
        health = (state.get("Health") or state.get("Healthcheck") or {}).get("Status") or None
        labels = attrs.get("Labels") or attrs.get("Config", {}).get("Labels") or {}
        image = attrs.get("Image") or attrs.get("ImageName") or attrs.get("Config", {}).get("Image", "")
        names = attrs.get("Names")
        name = names[0] if isinstance(names, list) and names else attrs.get("Name", c.name or "")
        return ContainerInfo(
            id=c.id or "",
            name=str(name).lstrip("/"),
            image=str(image),
            status=str(state.get("Status", "")),
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

    def _labelled(self, kind: str, project: str) -> list[Any]:
        """Objects of *kind* (containers, volumes, networks) carrying either project label, each once."""
        manager = getattr(self.client, kind)
        found: dict[str, Any] = {}
        for label in _PROJECT_LABELS:
            extra = {"all": True} if kind == "containers" else {}
            for obj in manager.list(filters={"label": f"{label}={project}"}, **extra):
                found.setdefault(obj.id or obj.name, obj)
        return list(found.values())

    def project_containers(self, project: str) -> list[ContainerInfo]:
        infos = []
        for c in self._labelled("containers", project):
            # list() returns summaries without health: inspect each for the full state.
            with contextlib.suppress(podman.errors.NotFound):  # removed meanwhile
                infos.append(self._container_info(self.client.containers.get(c.id)))
        return infos

    def containers_mounting(self, volume: str) -> list[ContainerInfo]:
        result = []
        for c in self.client.containers.list(all=True, filters={"volume": volume}):
            with contextlib.suppress(podman.errors.NotFound):  # removed meanwhile (another podshift's helper)
                result.append(self._container_info(self.client.containers.get(c.id)))
        return result

    def project_volumes(self, project: str) -> list[VolumeInfo]:
        return [VolumeInfo.from_attrs(v.attrs) for v in self._labelled("volumes", project)]

    def project_networks(self, project: str) -> list[NetworkInfo]:
        return [
            NetworkInfo(
                id=n.id or "",
                name=n.attrs.get("name", n.name or ""),
                driver=n.attrs.get("driver", ""),
                subnets=tuple(s["subnet"] for s in n.attrs.get("subnets") or [] if "subnet" in s),
                labels=n.attrs.get("labels") or {},
            )
            for n in self._labelled("networks", project)
        ]

    def project_pods(self, project: str) -> list[PodInfo]:
        """Pods holding a container of *project*, and podman-compose's ``pod_<project>`` (pods carry no labels)."""
        # The summaries list() returns carry the pod's id.
        wanted = {str(c.attrs.get("Pod") or "") for c in self._labelled("containers", project)} - {""}
        pods = []
        for pod in self.client.pods.list():
            attrs: dict[str, Any] = pod.attrs
            name = str(attrs.get("Name", pod.name or ""))
            if pod.id in wanted or name == f"pod_{project}":
                members = tuple(str(m.get("Names", "")) for m in attrs.get("Containers") or [])
                pods.append(PodInfo(pod.id or "", name, str(attrs.get("Status", "")), members))
        return pods

    def pod_remove(self, name: str) -> None:
        """Remove a pod and whatever is left in it (force); a missing one is not an error."""
        try:
            self.client.pods.remove(name, force=True)
        except podman.errors.NotFound:
            pass
        except podman.errors.APIError as e:
            raise EngineError(self.label, f"remove pod {name}", str(e)) from e

    def network_remove(self, name: str) -> None:
        """Remove a network (its containers must be gone); a missing one is not an error."""
        try:
            self.client.networks.remove(name)
        except podman.errors.NotFound:
            pass
        except podman.errors.APIError as e:
            raise EngineError(self.label, f"remove network {name}", str(e)) from e

    # -- volumes ----------------------------------------------------------------------------
    def volume(self, name: str) -> VolumeInfo | None:
        try:
            return VolumeInfo.from_attrs(self.client.volumes.get(name).attrs)
        except podman.errors.NotFound:
            return None

    def _create_volume(self, name: str, labels: dict[str, str]) -> VolumeInfo:
        v = self.client.volumes.create(name=name, labels=labels)
        return VolumeInfo.from_attrs(v.attrs)

    def volume_sizes(self) -> dict[str, int]:
        """Bytes used by each volume, from ``podman system df`` (through the API)."""
        try:
            volumes = self.client.df().get("Volumes") or []
        except _CONNECTION_ERRORS as e:
            raise self._unavailable(e) from e
        return {str(v.get("VolumeName") or v.get("Name")): int(v.get("Size") or 0) for v in volumes}

    def volume_remove(self, name: str, *, force: bool = False) -> None:
        try:
            self.client.volumes.remove(name, force=force)
        except podman.errors.NotFound:
            pass
        except podman.errors.APIError as e:
            raise EngineError(self.label, f"remove volume {name}", str(e)) from e

    def direct_path(self, volume: VolumeInfo) -> Path | None:
        """The volume's directory for rootful Podman run as root (local driver): containers see it as it is.

        Rootless volumes are None: their owners are shifted into the user's
        namespace, so host root would read and write the wrong ids.
        """
        if self.rootless or os.geteuid() != 0 or volume.driver != "local" or not volume.mountpoint:
            return None
        path = Path(volume.mountpoint)
        return path if path.is_dir() else None

    def volume_export(self, name: str) -> Iterator[bytes]:
        if self.volume(name) is None:
            raise EngineError(self.label, f"export volume {name}", "no such volume")
        with _StreamingCli(["podman", "volume", "export", name], self.run_as, direction="out") as cli:
            while chunk := os.read(cli.fd, _CHUNK):
                yield chunk

    def volume_import(self, name: str, tar_stream: Iterable[bytes]) -> None:
        if self.volume(name) is None:
            raise EngineError(self.label, f"import into volume {name}", "no such volume")
        self._stream_into(["podman", "volume", "import", name, "-"], tar_stream)

    def _stream_into(self, argv: Sequence[str], chunks: Iterable[bytes]) -> None:
        """Run a podman command (as the engine's user) with *chunks* on its stdin."""
        with _StreamingCli(argv, self.run_as, direction="in") as cli:
            try:
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(cli.fd, view) :]
            except BrokenPipeError:
                pass  # podman exited early: its exit code and stderr say why

    # -- images ------------------------------------------------------------------------------
    def image_load(self, archive: Iterable[bytes]) -> None:
        """``podman load`` an image archive (``docker save`` format) streamed in.

        Run as the engine's user, so a rootless store receives it; the stream
        never sits in memory or in a file.
        """
        self._stream_into(["podman", "load"], archive)

    def image(self, ref: str) -> ImageInfo | None:
        try:
            img = self.client.images.get(ref)
        except podman.errors.ImageNotFound:
            return None
        except podman.errors.NotFound:
            return None
        return ImageInfo(id=img.id or "", tags=tuple(img.tags))

    def image_build(self, context: Path, tag: str, dockerfile: str | None = None) -> ImageInfo:
        try:
            img, _logs = self.client.images.build(
                path=str(context), tag=tag, dockerfile=dockerfile or "Dockerfile", pull=False, rm=True
            )
        except podman.errors.BuildError as e:
            raise EngineError(self.label, f"build {tag}", str(e)) from e
        return ImageInfo(id=img.id or "", tags=tuple(img.tags))

    def image_import(self, rootfs_tar: Path, tag: str, changes: Sequence[str] = ()) -> ImageInfo:
        args = ["import"]
        for change in changes:
            args += ["--change", change]
        self.cli(*args, str(rootfs_tar), tag).check()
        info = self.image(tag)
        if info is None:
            raise EngineError(self.label, f"import {tag}", "image not present after import")
        return info

    def image_release(self, ref: str) -> str | None:
        """Drop the reference *ref* without force: untag it when the image has other names, else remove it.

        Never removes a container (``force`` would remove every container using the
        image, whoever's it is).  Returns why it was kept, or None when it went.
        """
        try:
            self.client.images.remove(ref, force=False)
        except (podman.errors.ImageNotFound, podman.errors.NotFound):
            return None
        except podman.errors.APIError as e:
            return str(e).split("(", 1)[-1].rstrip(")") or str(e)
        return None

    def image_remove(self, ref: str) -> None:
        with contextlib.suppress(podman.errors.ImageNotFound, podman.errors.NotFound):
            self.client.images.remove(ref, force=True)

    # -- containers ------------------------------------------------------------------------------
    def _container(self, name: str) -> Container:
        try:
            return self.client.containers.get(name)
        except podman.errors.NotFound as e:
            raise EngineError(self.label, f"find container {name}", "no such container") from e

    def exec(self, container: str, argv: Sequence[str], *, user: str | None = None) -> CommandResult:
        # The CLI, not the API: with Podman 4.3 every exec session started through the API
        # (podman-py's exec_run) leaves its two conmon processes behind for ever, even after
        # the container is removed; ``podman exec`` cleans its session up.
        args = ["exec", *(["--user", user] if user else []), container, *argv]
        result = self.cli(*args, timeout=300)
        return CommandResult(tuple(argv), result.rc, result.stdout, result.stderr)

    def run(
        self,
        image: str,
        argv: Sequence[str],
        *,
        mounts: Sequence[Mount] = (),
        user: str | None = None,
    ) -> CommandResult:
        # Helpers never need a network: rootless ones would otherwise depend on /dev/net/tun.
        args = ["run", "--rm", "--pull=never", "--network=none", "--label", f"{HELPER_LABEL}=run"]
        for m in mounts:
            args += ["-v", f"{m.source}:{m.target}{':ro' if m.read_only else ''}"]
        if user:
            args += ["--user", user]
        # The CLI rather than the API: it reports the OCI runtime's own error
        # (crun's cgroup complaint, setrlimit failures) on stderr verbatim,
        # which is exactly what the prerequisite checks need to show.
        return self.cli(*args, image, *argv, timeout=300)

    def stop(self, container: str, timeout: int = 10) -> None:
        c = self._container(container)
        if c.status == "running":
            try:
                c.stop(timeout=timeout)
            except podman.errors.APIError as e:  # e.g. a hung conmon: "timed out waiting for file .../exits/ID"
                raise EngineError(self.label, f"stop container {container}", str(e)) from e

    def start(self, container: str) -> None:
        c = self._container(container)
        if c.status != "running":
            try:
                c.start()
            except podman.errors.APIError as e:  # e.g. rootlessport refusing a privileged port (podman#13426)
                raise EngineError(self.label, f"start container {container}", str(e)) from e

    def remove_container(self, container: str) -> None:
        try:
            self.client.containers.remove(container, force=True)
        except podman.errors.NotFound:
            pass
        except podman.errors.APIError as e:  # e.g. other containers depend on it (podman-compose's --requires)
            raise EngineError(self.label, f"remove container {container}", str(e)) from e


class _StreamingCli:
    """A podman CLI process whose stdin or stdout is a pipe we stream through.

    The pipe is created here and, when the command runs as another user,
    handed to that user with fchown: ``podman volume export`` reopens
    ``/dev/stdout`` by path, which fails on a pipe owned by root.  stderr is
    drained on a thread so a chatty podman cannot block; a non-zero exit
    raises :class:`CommandError` with it when the block ends.
    """

    def __init__(self, argv: Sequence[str], run_as: RunAs | None, *, direction: str) -> None:
        self.argv = run_as.wrap(argv) if run_as else list(argv)
        self.run_as = run_as
        self.direction = direction
        self.fd = -1
        self._stderr: list[bytes] = []

    def __enter__(self) -> _StreamingCli:
        r, w = os.pipe()
        if self.run_as is not None and os.geteuid() != self.run_as.uid:
            for fd in (r, w):
                os.fchown(fd, self.run_as.uid, -1)
        child_end, self.fd = (r, w) if self.direction == "in" else (w, r)
        try:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=child_end if self.direction == "in" else subprocess.DEVNULL,
                stdout=child_end if self.direction == "out" else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except FileNotFoundError as e:
            os.close(r)
            os.close(w)
            raise ToolMissing(self.argv[0], "install podman (apt-get install podman)") from e
        os.close(child_end)
        stderr = self._proc.stderr
        self._drain = threading.Thread(target=lambda: self._stderr.append(stderr.read() if stderr else b""))
        self._drain.start()
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
        if exc[0] is not None and self.direction == "out":
            # The reader stopped early (a closed generator, an error): `podman volume export`
            # then never exits, its storage-tar child blocked on a pipe nobody reads (Podman
            # 4.3). runuser passes the signal on to podman.
            self._proc.terminate()
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        rc = self._proc.wait()
        self._drain.join()
        if self._proc.stderr is not None:
            self._proc.stderr.close()
        if rc != 0 and exc[0] is None:
            raise CommandError(self.argv, rc, b"".join(self._stderr).decode("utf-8", "replace"))
