"""podshift drill's pieces that need no engine: the clone's compose document, outages, digests, reports."""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from podshift.compose import load_project
from podshift.drill import (
    DrillError,
    DrillResult,
    PortMove,
    Prober,
    Sample,
    StepOutcome,
    clone_config,
    differences,
    free_ports,
    free_subnets,
    probe_port,
    read_session_report,
)

from ..conftest import EXAMPLE


def test_clone_config_gives_the_clone_its_own_names_ports_subnets_and_paths(tmp_path: Path) -> None:
    project = load_project(EXAMPLE, env={"PHOENIX_DATA_DIR": "/srv/i14-live-data"})
    doc, moves, subnets, volumes, binds = clone_config(
        project, tmp_path / "clone", name="drill-i14", ports=[21490, 21491, 21492, 21493], subnets=["10.14.9.0/24"]
    )
    assert doc["name"] == "drill-i14"
    assert sorted((m.service, m.live, m.clone) for m in moves) == [
        ("api", 8000, 21490),
        ("gateway", 8080, 21491),
        ("web", 3000, 21492),
        ("worker", 5000, 21493),
    ]
    published = {s: [p["published"] for p in svc["ports"]] for s, svc in doc["services"].items()}
    assert published == {"api": [21490], "gateway": [21491], "web": [21492], "worker": [21493]}
    assert all(p["host_ip"] == "127.0.0.1" for svc in doc["services"].values() for p in svc["ports"])
    assert subnets == {"phoenix-net": ("172.20.0.0/16", "10.14.9.0/24")}
    assert doc["networks"]["phoenix-net"]["ipam"]["config"] == [{"subnet": "10.14.9.0/24"}]
    assert "name" not in doc["networks"]["phoenix-net"]
    assert volumes == {
        "api-data": ("phoenix-hydra_api-data", "drill-i14_api-data"),
        "worker-state": ("phoenix-hydra_worker-state", "drill-i14_worker-state"),
    }
    assert all("name" not in (spec or {}) for spec in doc["volumes"].values())
    # Paths in the live project point into the clone; the bind source outside it gets its own copy.
    text = json.dumps(doc)
    assert str(EXAMPLE) not in text
    assert doc["services"]["api"]["build"]["context"] == str(tmp_path / "clone" / "compose" / "api")
    assert binds == {"/srv/i14-live-data": str(tmp_path / "clone" / ".drill-binds" / "0")}
    api_binds = [m["source"] for m in doc["services"]["api"]["volumes"] if m["type"] == "bind"]
    assert api_binds == [binds["/srv/i14-live-data"]]
    assert all(v is not None for svc in doc["services"].values() for v in svc.values())


def test_clone_config_refuses_what_it_cannot_isolate(tmp_path: Path) -> None:
    project = load_project(EXAMPLE)
    raw = json.loads(json.dumps(project.raw))
    raw["volumes"]["api-data"]["external"] = True
    shared = type(project)(**{**project.__dict__, "raw": raw})
    with pytest.raises(DrillError, match="volume 'api-data' is external"):
        clone_config(shared, tmp_path, name="drill-x", ports=[1, 2, 3, 4], subnets=["10.14.9.0/24"])


def test_free_subnets_avoid_every_used_range() -> None:
    used = [ipaddress.ip_network("10.14.0.0/24"), ipaddress.ip_network("10.14.1.128/25")]
    assert free_subnets(2, "10.14.0.0/16", used) == ["10.14.2.0/24", "10.14.3.0/24"]
    with pytest.raises(DrillError, match="no 2 free"):
        free_subnets(2, "10.14.0.0/24", used)


def test_free_ports_skip_a_taken_one() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 21498))
        s.listen()
        assert free_ports(1, range(21498, 21500)) == [21499]
        with pytest.raises(DrillError):
            free_ports(2, range(21498, 21500))


def test_outage_is_every_failed_round_to_the_next_good_one_summed() -> None:
    prober = Prober([], limit=0)
    prober.samples = [Sample(t / 10, ok) for t, ok in enumerate([1, 1, 0, 0, 0, 1, 0, 1], start=0)]
    assert prober.outage(0.0) == pytest.approx(0.4)  # 0.2 -> 0.5, then 0.6 -> 0.7
    assert prober.outage(0.0, 0.55) == pytest.approx(0.3)
    assert prober.outage(0.55) == pytest.approx(0.1)
    assert prober.outage(0.0, 0.1) == 0.0
    prober.samples.append(Sample(0.8, False))
    assert prober.outage(0.75) is None  # never back


class _Status(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # http.server calls it by this name
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_probe_counts_a_server_error_as_down() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert probe_port(port)
        _Status.status = 502
        assert not probe_port(port)
        assert probe_port(port, http=False)  # a non-HTTP port only has to accept the connection
    finally:
        _Status.status = 200
        server.shutdown()
        server.server_close()
    assert not probe_port(port, http=False)


def test_differences_name_every_path() -> None:
    f = ("file", 3, 0o600, 999, 999, "aa", "", 1)
    before = {"api-data": {"records/1": f, "records/2": f}, "worker-state": {"jobs": f}}
    after = {"api-data": {"records/1": f, "records/3": f}, "worker-state": {"jobs": (*f[:3], 0, 999, "aa", "", 1)}}
    assert differences(before, after) == (
        ["api-data:records/2 missing", "api-data:records/3 new", "worker-state:jobs changed (uid)"],
        [],
    )
    assert differences(before, before) == ([], [])
    # Written by the restarted application after the snapshot: listed apart, not counted as lost.
    rewritten = {**after, "worker-state": {"jobs": (*f[:5], "bb", "", 100)}}
    assert differences(before, rewritten, written_after=50.0) == (
        ["api-data:records/2 missing", "api-data:records/3 new"],
        ["worker-state:jobs changed (sha256, mtime)"],
    )


def _result(**kw: object) -> DrillResult:
    r = DrillResult("p", "drill-x", "/tmp/x", [PortMove("api", 8000, 8000, 21400)], {}, "backup")
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def test_result_passes_only_when_everything_held() -> None:
    steps = [StepOutcome(n, [], 0, 1.0, "") for n in ("backup", "migrate", "rollback")]
    good = _result(steps=steps, migration_downtime=2.0, rollback_downtime=3.0, max_downtime=5.0)
    assert good.passed
    assert not _result(steps=steps, migration_downtime=2.0, rollback_downtime=6.0, max_downtime=5.0).passed
    assert not _result(steps=steps, migration_downtime=2.0, rollback_downtime=None).passed
    assert not _result(steps=steps, migration_downtime=1, rollback_downtime=1, byte_differences=["a:b missing"]).passed
    failed = [*steps[:2], StepOutcome("rollback", [], 1, 1.0, "podshift rollback: FAILED at step x")]
    bad = _result(steps=failed, migration_downtime=1.0, rollback_downtime=1.0)
    assert bad.failures() == ["step rollback failed (exit 1)"]
    suite = ET.fromstring(bad.junit())  # noqa: S314 - our own output
    assert suite.get("failures") == "1"
    assert [c.get("name") for c in suite if c.find("failure") is not None] == ["step rollback"]
    assert b"FAILED" in bad.html()
    assert json.loads(json.dumps(bad.to_json()))["passed"] is False


def test_session_items_come_from_the_json_report(tmp_path: Path) -> None:
    report = tmp_path / "rollback.json"
    report.write_text(
        json.dumps(
            {
                "tests": [
                    {"nodeid": "rollback::stop-podman", "outcome": "passed", "setup": {"duration": 0.5},
                     "call": {"duration": 2.0}, "teardown": {"duration": 0.25}},
                    {"nodeid": "checks/post_rollback/test_network.py::test_x", "outcome": "failed"},
                ]
            }
        )
    )  # fmt: skip
    items = read_session_report(report)
    assert [(i.nodeid, i.outcome, i.seconds) for i in items] == [
        ("rollback::stop-podman", "passed", 2.75),
        ("checks/post_rollback/test_network.py::test_x", "failed", 0.0),
    ]
    assert read_session_report(tmp_path / "missing.json") == []
    step = StepOutcome("rollback", [], 1, 3.0, "", items)
    suite = ET.fromstring(_result(steps=[step]).junit())  # noqa: S314 - our own output
    failed = [c.get("name") for c in suite if c.find("failure") is not None]
    assert "rollback: checks/post_rollback/test_network.py::test_x" in failed
    assert "rollback: rollback::stop-podman" not in failed
