"""Recovery decisions from recorded tool output, and /proc port holders seen on a real socket."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from podshift.backup.tarscan import Entry
from podshift.ports import holders
from podshift.recovery.build import (
    apply_symbolic,
    built_from,
    is_short_name,
    is_working_container,
    octal_chmod,
    rewrite_chmod,
    scan,
    stages,
)
from podshift.recovery.diagnosis import content_digest
from podshift.recovery.permissions import newuidmap_problem, pause_process_problem, smoke_fix, uid_map_problem
from podshift.recovery.volumes import _through_map, selinux_advice

# -- SELinux (recorded on a RHEL 9 host) -----------------------------------------------------------
LS_Z_USER = "unconfined_u:object_r:user_home_t:s0 /home/app/data\n"
LS_Z_CONTAINER = "system_u:object_r:container_file_t:s0:c12,c34 /srv/data\n"


@pytest.mark.parametrize(
    ("getenforce", "ls_z", "option", "needed"),
    [
        ("Enforcing\n", LS_Z_USER, "", True),
        ("Enforcing\n", LS_Z_USER, "Z", False),
        ("Enforcing\n", LS_Z_USER, "z", False),
        ("Enforcing\n", LS_Z_CONTAINER, "", False),
        ("Permissive\n", LS_Z_USER, "", False),
        ("Disabled\n", "? /home/app/data\n", "", False),
    ],
)
def test_selinux_advice(getenforce: str, ls_z: str, option: str, needed: bool) -> None:
    advice = selinux_advice(getenforce, ls_z, option)
    assert (advice is not None) == needed
    if advice:
        assert "user_home_t" in advice
        assert ":Z" in advice


# -- user namespaces (recorded `podman unshare cat /proc/self/uid_map`) ------------------------------
def test_uid_map_with_sub_ids_is_fine() -> None:
    assert uid_map_problem("         0       1001          1\n         1     100000      65536\n") is None


def test_uid_map_of_one_line_asks_for_system_migrate() -> None:
    problem = uid_map_problem("         0       1001          1\n")
    assert problem is not None
    assert "podman system migrate" in problem
    assert "podman#12715" in problem


def test_a_lost_pause_process_asks_for_system_migrate() -> None:
    # Recorded from Podman 4.3.1 after `pkill -9 -u USER` while one of its containers ran.
    said = (
        'time="2026-11-26T09:24:54Z" level=warning msg="\\"/\\" is not a shared mount, this could cause issues"\n'
        'time="2026-11-26T09:24:54Z" level=error msg="invalid internal status, try resetting the pause process '
        'with \\"podman system migrate\\": could not find any running process: no such process"\n'
    )
    problem = pause_process_problem(said)
    assert problem is not None
    assert "`podman system migrate`" in problem
    assert pause_process_problem("Error: no such container x\n") is None
    # The same line for an unprivileged newuidmap: `podman system migrate` does not repair that (newuidmap step).
    newuidmap = (
        'level=error msg="invalid internal status, try resetting the pause process with \\"podman system migrate\\": '
        'cannot set up namespace using \\"/usr/bin/newuidmap\\": exit status 1"\n'
    )
    assert pause_process_problem(newuidmap) is None


def test_ids_through_the_map() -> None:
    id_map = "0 1001 1\n1 100000 65536\n"
    assert _through_map(0, id_map) == 1001
    assert _through_map(999, id_map) == 100998
    with pytest.raises(ValueError, match="not mapped"):
        _through_map(70000, id_map)


def test_newuidmap_without_privilege(tmp_path: Path) -> None:
    plain = tmp_path / "newuidmap"
    plain.write_bytes(b"")
    plain.chmod(0o755)
    problem = newuidmap_problem(plain)
    assert problem is not None
    assert f"chmod u+s {plain}" in problem
    assert "missing" in (newuidmap_problem(tmp_path / "absent") or "")
    if os.geteuid() == 0:
        plain.chmod(0o4755)
        assert newuidmap_problem(plain) is None


def test_smoke_errors_map_to_the_existing_fixes() -> None:
    crun = "Error: crun: cgroups in hybrid mode not supported, drop all controllers from cgroupv2: OCI runtime error"
    assert smoke_fix(crun) == "select-oci-runtime"
    assert smoke_fix("runc: setrlimit `RLIMIT_NOFILE`: Operation not permitted") == "default-ulimits"
    assert smoke_fix("Error: no such image") is None


# -- Dockerfiles ------------------------------------------------------------------------------------
def test_symbolic_modes() -> None:
    assert apply_symbolic("u+x", 0o644) == 0o744
    assert apply_symbolic("a+x", 0o644) == 0o755
    assert apply_symbolic("go-rwx", 0o755) == 0o700
    assert apply_symbolic("u=rw,g=r,o=", 0o777) == 0o640
    assert apply_symbolic("a+X", 0o644) == 0o644
    assert apply_symbolic("a+X", 0o644, is_dir=True) == 0o755
    assert apply_symbolic("u+s", 0o755) == 0o4755
    assert apply_symbolic("755", 0o644) is None


def test_dockerfile_findings_and_chmod_rewrite(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "run.sh").chmod(0o644)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "# syntax=docker/dockerfile:1.4\n"
        "FROM alpine:3 AS base\n"
        "FROM base\n"
        "RUN --mount=type=cache,target=/root/.cache true\n"
        "RUN --mount=type=ssh git clone x\n"
        "RUN <<EOF\necho hi\nEOF\n"
        "COPY --chmod=u+x run.sh /run.sh\n"
        "COPY --chmod=0755 run.sh /other.sh\n"
    )
    found = {(f.kind, f.line) for f in scan("app", dockerfile)}
    assert found == {("syntax", 1), ("short-name", 2), ("run-mount", 5), ("heredoc", 6), ("chmod-symbolic", 9)}
    assert octal_chmod(dockerfile, "--chmod=u+x run.sh /run.sh") == ("744", "")
    rewritten = rewrite_chmod(dockerfile).decode()
    assert "COPY --chmod=744 run.sh /run.sh\n" in rewritten
    assert "COPY --chmod=0755 run.sh /other.sh\n" in rewritten
    assert rewritten.replace("--chmod=744", "--chmod=u+x") == dockerfile.read_text()


@pytest.mark.parametrize(
    ("name", "working"),
    [
        ("1fc387a88b77-working-container", True),
        ("1fc387a88b77-working-container-1", True),  # the first name was taken by an earlier failed build
        ("localhost-phoenix-base-working-container-12", True),
        ("my-working-container-app", False),
        ("api_1", False),
    ],
)
def test_buildah_working_container_names(name: str, working: bool) -> None:
    assert is_working_container(name) is working


@pytest.mark.parametrize(
    ("image", "short"),
    [
        ("alpine:3", True),
        ("library/alpine", True),
        ("docker.io/library/alpine:3", False),
        ("localhost/phoenix-base:1", False),
        ("registry:5000/app", False),
    ],
)
def test_short_names(image: str, short: bool) -> None:
    assert is_short_name(image) is short


# -- ports and digests ------------------------------------------------------------------------------
def test_a_listening_socket_is_named_with_pid_and_command() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        found = holders(port)
    assert len(found) == 1
    if os.geteuid() == 0 or found[0].pid is not None:
        assert found[0].pid == os.getpid()
        assert found[0].program == Path(sys.executable).name or "python" in found[0].program
        assert f"PID {os.getpid()}" in found[0].describe()
    assert holders(port) == []  # closed: nobody listens


def test_content_digest_sees_owner_and_content_changes() -> None:
    a = [Entry("f", "file", 3, 0o600, 999, 999, 1, sha256="ab"), Entry(".", "dir", 0, 0o755, 0, 0, 1)]
    b = [Entry("f", "file", 3, 0o600, 1000, 999, 1, sha256="ab"), Entry(".", "dir", 0, 0o755, 0, 0, 1)]
    assert content_digest(a) == content_digest(list(reversed(a)))
    assert content_digest(a) != content_digest(b)


# -- failed-build leftovers: image history (podman image inspect, buildah 1.28) against the Dockerfile ----------
BASE_HISTORY = ["/bin/sh -c #(nop) ADD file:17f9d2f80db5 in /"]


def test_a_failed_builds_layers_are_told_from_another_projects(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "ARG V=1\nFROM localhost/phoenix-base:1 AS build\nRUN echo a \\\n  && echo b > /b\n"
        "COPY step.sh /step.sh\nRUN sh /step.sh\nFROM build\nRUN true\n"
    )
    [(base, instructions)] = stages(dockerfile)  # FROM build is a stage, not an image
    assert base == "localhost/phoenix-base:1"
    assert [i for i, _ in instructions] == ["RUN", "COPY", "RUN"]
    ours = ["/bin/sh -c #(nop) COPY file:0a1b in /step.sh", "/bin/sh -c echo a   && echo b > /b", *BASE_HISTORY]
    assert built_from(ours, BASE_HISTORY, instructions)
    assert built_from(ours[1:], BASE_HISTORY, instructions)
    assert not built_from(["/bin/sh -c echo other > /other", *BASE_HISTORY], BASE_HISTORY, instructions)
    assert not built_from(BASE_HISTORY, BASE_HISTORY, instructions)  # the base itself: nobody's leftover
    assert not built_from(ours, ["/bin/sh -c #(nop) ADD file:ffff in /"], instructions)  # another base
    assert not built_from(["/bin/sh -c true", *ours], BASE_HISTORY, instructions[:2])  # more layers than steps
