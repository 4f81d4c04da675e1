"""The compose model comes from `docker compose config`; these need the Compose binary, not an engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from podshift.compose.model import find_compose_files, load_project
from podshift.errors import ProjectError


def test_example_stack_is_normalized_by_compose(example_dir: Path) -> None:
    project = load_project(example_dir, env={"PHOENIX_DATA_DIR": "/srv/phx", "PHOENIX_API_PORT": "18001"})
    assert project.name == "phoenix-hydra"
    assert set(project.services) == {"api", "web", "gateway", "worker"}
    api = project.services["api"]
    assert [(p.host_ip, p.published, p.target) for p in api.ports] == [("127.0.0.1", 18001, 8000)]
    assert api.build_context == example_dir / "compose" / "api"
    assert api.has_healthcheck
    assert project.services["worker"].user == "999:999"
    assert project.services["gateway"].depends_on == {"api": "service_healthy", "web": "service_started"}
    assert project.named_volumes == ["phoenix-hydra_api-data", "phoenix-hydra_worker-state"]
    assert Path("/srv/phx") in project.bind_sources
    assert project.network_name("phoenix-net") == "phoenix-hydra_phoenix-net"
    assert project.networks["phoenix-net"]["ipam"]["config"][0]["subnet"] == "172.20.0.0/16"


def test_start_order_puts_dependencies_first(example_dir: Path) -> None:
    order = load_project(example_dir).start_order()
    assert order.index("api") < order.index("web") < order.index("gateway")
    assert order.index("api") < order.index("worker")


def test_project_name_override(example_dir: Path) -> None:
    assert load_project(example_dir, project_name="other-name").volume_name("api-data") == "other-name_api-data"


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no such directory"):
        load_project(tmp_path / "nope")


def test_file_instead_of_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ProjectError, match="not a directory"):
        load_project(tmp_path / "f")


def test_directory_without_compose_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no compose file"):
        load_project(tmp_path)


def test_invalid_compose_file_names_the_tool_error(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    ports: [1, 2\n")
    with pytest.raises(ProjectError, match="invalid compose file"):
        load_project(tmp_path)


def test_unknown_key_is_rejected_by_compose(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: x\n    not_a_key: 1\n")
    with pytest.raises(ProjectError, match="not_a_key"):
        load_project(tmp_path)


def test_depends_on_cycle_is_a_project_error(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n"
    )
    # Compose itself may reject the cycle; either way it is a ProjectError, never a traceback.
    with pytest.raises(ProjectError, match=r"cycle|circular|dependency"):
        load_project(tmp_path).start_order()


def test_compose_file_preference_and_override(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    (tmp_path / "compose.override.yaml").write_text("services: {}\n")
    assert find_compose_files(tmp_path) == [tmp_path / "compose.yaml", tmp_path / "compose.override.yaml"]
