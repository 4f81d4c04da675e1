"""An engine that is down gives a message naming the socket and how to start it."""

from __future__ import annotations

from pathlib import Path

import pytest

from podshift.errors import EngineUnavailable
from podshift.runtimes import DockerRuntime, PodmanRuntime


def test_docker_down(tmp_path: Path) -> None:
    sock = tmp_path / "docker.sock"
    with pytest.raises(EngineUnavailable) as info:
        DockerRuntime(str(sock)).ping()
    message = str(info.value)
    assert str(sock) in message
    assert "the socket does not exist" in message
    assert "dockerd" in message


def test_podman_down(tmp_path: Path) -> None:
    sock = tmp_path / "podman.sock"
    with pytest.raises(EngineUnavailable) as info:
        PodmanRuntime(str(sock)).ping()
    assert str(sock) in str(info.value)
    assert "podman system service --time=0" in str(info.value)


def test_socket_that_refuses(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))  # exists, but nobody listens
    try:
        with pytest.raises(EngineUnavailable, match=r"dead\.sock"):
            DockerRuntime(str(path)).ping()
    finally:
        s.close()
