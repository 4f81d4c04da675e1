"""phoenix-hydra comes up for real on Docker, rootful Podman and rootless Podman."""

from __future__ import annotations

import uuid

from .conftest import Stack, http


def test_every_endpoint_answers_and_data_survives_a_restart(stack: Stack) -> None:
    stack.provider.up()
    assert {c.service for c in stack.provider.ps() if c.status == "running"} == {"api", "web", "gateway", "worker"}
    assert http(stack.url("api", "/health")).strip() == "ok"
    assert "phoenix-hydra web" in http(stack.url("web"))
    assert http(stack.url("gateway", "/health")).strip() == "ok"
    assert http(stack.url("worker", "/health")).strip() == "ok"
    # The gateway reads its routes from the bind-mounted config and resolves
    # the api by container DNS on the project's own network.
    assert http(stack.url("gateway", "/cgi-bin/proxy/api/health")).strip() == "ok"

    marker = f"record-{uuid.uuid4().hex}"
    assert "stored" in http(stack.url("api", "/cgi-bin/records"), data=marker.encode())
    assert (stack.data_dir / "records.log").read_text().strip(), "the bind-mounted data dir got no audit line"

    stack.provider.down()  # containers and network go; named volumes stay
    assert stack.provider.ps() == []
    names = {v.name for v in stack.runtime.project_volumes(stack.project.name)}
    assert set(stack.project.named_volumes) <= names

    stack.provider.up()
    assert marker in http(stack.url("api", "/cgi-bin/records"))
    gateway_view = http(stack.url("gateway", "/cgi-bin/proxy/api/cgi-bin/records"))
    assert marker in gateway_view


def test_worker_state_is_private_to_uid_999(stack: Stack) -> None:
    stack.provider.up()
    worker = next(c for c in stack.provider.ps() if c.service == "worker")
    result = stack.runtime.exec(worker.name, ["stat", "-c", "%u %g %a", "/state/jobs", "/state"])
    assert result.rc == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["999 999 600", "999 999 700"]
