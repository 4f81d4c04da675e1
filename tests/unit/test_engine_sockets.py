"""A failed connect to an engine leaves no socket behind for a later garbage collection to complain about.

docker-py and podman-py drop the socket of a failed connect unclosed, in a
reference cycle; a later ``gc`` then raises ``ResourceWarning`` under
``filterwarnings = error`` in whatever runs at that moment (seen: an
in-process pytester session while dockerd was restarting).
"""

from __future__ import annotations

import gc
import socket
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from podshift.errors import EngineUnavailable
from podshift.runtimes import DockerRuntime, PodmanRuntime, Runtime


@pytest.fixture
def refusing_socket(tmp_path: Path) -> Iterator[str]:
    """A socket file that exists but where nothing listens: every connect fails."""
    path = tmp_path / "refusing.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    try:
        yield str(path)
    finally:
        s.close()


def resource_warnings(action: Callable[[], object]) -> list[str]:
    """The ResourceWarnings that *action*, then a full garbage collection, produce."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


@pytest.mark.parametrize("make", [DockerRuntime, PodmanRuntime], ids=["docker", "podman"])
def test_a_refused_connect_leaves_no_socket(refusing_socket: str, make: Callable[[str], Runtime]) -> None:
    def version_of_a_dead_engine() -> None:
        runtime = make(refusing_socket)
        # version() goes straight to the client (no probe first): the library's own connect fails.
        with pytest.raises(EngineUnavailable, match="refusing"):
            runtime.version()
        runtime.close()

    gc.collect()  # whatever earlier tests left is not this test's business
    assert resource_warnings(version_of_a_dead_engine) == []
