"""SELinux labels in the migration's compose rewrite: decided from recorded ``getenforce`` output."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from podshift.compose.model import load_project
from podshift.migration.selinux import bind_labels, recorded_getenforce, selinux_enforcing
from podshift.remediations.migrate.compose_rewrite import _rewrite

PODMAN_SOCK = "/run/podman/podman.sock"


@pytest.mark.parametrize(
    ("recorded", "enforcing"),
    [
        ("Enforcing\n", True),
        ("Permissive\n", False),
        ("Disabled\n", False),
        (None, False),  # getenforce missing (no SELinux userland) or failing
        ("", False),
    ],
)
def test_labels_only_when_enforcing(recorded: str | None, enforcing: bool) -> None:
    assert selinux_enforcing(recorded) is enforcing


COMPOSE = """# the operator's comment stays
services:
  api:
    image: localhost/s2-api:1
    volumes:
      - ./data:/data
      - ./conf/app.conf:/etc/app.conf:ro
      - ./shared:/shared
      - api-state:/state
      - {sock}:/var/run/docker.sock
  worker:
    image: localhost/s2-worker:1
    volumes:
      - type: bind
        source: ./shared
        target: /in
      - ./private:/private:z
volumes:
  api-state: {{}}
"""


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    for d in ("data", "shared", "private", "conf"):
        (tmp_path / d).mkdir()
    (tmp_path / "conf/app.conf").write_text("x=1\n")
    sock = tmp_path / "fake-docker.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))  # a real socket file: never labelled, whatever its name
    server.close()
    (tmp_path / "compose.yaml").write_text(COMPOSE.format(sock=sock))
    return tmp_path


def test_enforcing_labels_every_unlabelled_bind_mount(project_dir: Path) -> None:
    project = load_project(project_dir)
    labels = bind_labels(project)
    # Private to one service: Z; mounted by two services: z; already labelled, named volumes, sockets: untouched.
    assert labels == {"api": {"/data": "Z", "/etc/app.conf": "Z", "/shared": "z"}, "worker": {"/in": "z"}}
    out = _rewrite((project_dir / "compose.yaml").read_bytes(), PODMAN_SOCK, labels)
    assert out is not None
    text = out.decode()
    assert "- ./data:/data:Z\n" in text
    assert "- ./conf/app.conf:/etc/app.conf:ro,Z\n" in text
    assert "- ./shared:/shared:z\n" in text
    assert "- api-state:/state\n" in text
    assert "- ./private:/private:z\n" in text  # the operator's own label is kept as it was
    assert "selinux: z" in text  # the long syntax gets bind.selinux
    assert f"- {PODMAN_SOCK}:/var/run/docker.sock\n" not in text  # not a docker.sock path: not repointed
    assert "# the operator's comment stays" in text
    # What Compose makes of the result: every label where it was put.
    (project_dir / "compose.yaml").write_text(text)
    after = load_project(project_dir)
    assert {m.target: m.selinux for m in after.services["api"].mounts if m.type == "bind"} == {
        "/data": "Z",
        "/etc/app.conf": "Z",
        "/shared": "z",
        "/var/run/docker.sock": "",
    }
    assert bind_labels(after) == {}  # a second rewrite adds nothing


@pytest.mark.parametrize("recorded", ["Permissive\n", "Disabled\n", None])
def test_not_enforcing_changes_nothing(project_dir: Path, recorded: str | None) -> None:
    project = load_project(project_dir)
    labels = bind_labels(project) if selinux_enforcing(recorded) else {}
    assert _rewrite((project_dir / "compose.yaml").read_bytes(), PODMAN_SOCK, labels) is None


def test_this_host_has_no_enforcing_selinux() -> None:
    """These machines run without SELinux: the recorded output says so and no label is planned."""
    if Path("/sys/fs/selinux/enforce").exists() and Path("/sys/fs/selinux/enforce").read_text().strip() == "1":
        pytest.skip("this host enforces SELinux")
    assert not selinux_enforcing(recorded_getenforce())
