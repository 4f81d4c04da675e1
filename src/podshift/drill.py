"""``podshift drill``: rehearse backup → migrate → rollback on a scratch clone of a project.

The live project is only ever read: its compose model (``docker compose config``), its files and its
volumes' data (from its latest verified backup, or straight from the engine).  The clone lives in a
scratch directory with its own compose project name, free published ports on 127.0.0.1, its own
subnets and its own volumes, so its containers, networks and volumes never meet the live stack's.

On the clone the drill runs podshift itself, as a user would (``podshift backup``, ``podshift migrate``
— which ends with the post_migration checks — and ``podshift rollback --force --keep-data`` — which ends
with the post_rollback checks), probes the published ports every 100 ms to measure downtime, and
compares the volumes' digests.  It reports JSON, JUnit XML and HTML and passes only when every step
passed, every byte came back and the downtime stayed under the gate.
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from ruamel.yaml import YAML

from podshift.atomic import write_file_atomically
from podshift.backup.manifest import Manifest
from podshift.backup.store import BackupStore
from podshift.backup.tarscan import comparable, file_chunks, scan, scan_file
from podshift.commands import run
from podshift.compose.model import COMPOSE_FILE_NAMES, ComposeProject, load_project
from podshift.compose.provider import DockerComposeProvider
from podshift.errors import PodshiftError
from podshift.paths import BACKUP_DIR_NAME, PROJECT_STATE_NAME, REPORTS_DIR_NAME
from podshift.runtimes import Runtime

log = logging.getLogger("podshift.drill")

#: The clones' subnets are /24s carved from this range unless told otherwise.
DEFAULT_SUBNET_POOL = "10.231.0.0/16"
PROBE_INTERVAL = 0.1  # seconds between two rounds of requests (the 100 ms)
PROBE_TIMEOUT = 0.5
STEP_TIMEOUT = 3600.0  # one podshift invocation on the clone; a step that hangs longer fails the drill
#: What the live project's tree may hold that the clone must not inherit.
NOT_CLONED = (BACKUP_DIR_NAME, PROJECT_STATE_NAME, ".podshift.lock", REPORTS_DIR_NAME, ".git", ".venv", ".tox")

Digest = dict[str, tuple[Any, ...]]  # path inside the volume -> what must match (tarscan.comparable)


class DrillError(PodshiftError):
    """The drill cannot be set up on this project (it says why and what to do)."""


# -- the clone ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PortMove:
    """A published port of the live project and the one its clone publishes instead (on 127.0.0.1)."""

    service: str
    target: int
    live: int
    clone: int


@dataclass
class Clone:
    """A scratch copy of a project: where it is, what it is called, and what it was given instead."""

    name: str
    root: Path  # the scratch directory (removed at the end unless --keep)
    project_dir: Path
    ports: list[PortMove]
    subnets: dict[str, tuple[str, str]]  # network key -> (live subnet, clone subnet)
    volumes: dict[str, tuple[str, str]]  # volume key -> (live engine name, clone engine name)
    binds: dict[str, str]  # live bind source outside the project -> its copy in the clone
    data_source: str = ""  # where the volumes' data came from

    def env(self) -> dict[str, str]:
        """The environment podshift runs the clone with: its own project name, no inherited compose files."""
        env = {k: v for k, v in os.environ.items() if k not in ("COMPOSE_FILE", "COMPOSE_PROFILES")}
        env["COMPOSE_PROJECT_NAME"] = self.name
        return env


def free_ports(count: int, candidates: Iterable[int] | None = None) -> list[int]:
    """*count* TCP ports nobody listens on at 127.0.0.1 (from *candidates*, else chosen by the kernel)."""
    chosen: list[int] = []
    if candidates is None:
        while len(chosen) < count:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            if port not in chosen:
                chosen.append(port)
        return chosen
    for port in candidates:
        if len(chosen) == count:
            break
        if _port_free(port):
            chosen.append(port)
    if len(chosen) < count:
        raise DrillError(f"only {len(chosen)} of the {count} free ports the clone needs were found")
    return chosen


def _port_free(port: int) -> bool:
    for host in ("127.0.0.1", "0.0.0.0"):  # noqa: S104 - only binds to test; a wildcard listener holds it too
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def used_subnets(runtimes: Iterable[Runtime]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Every subnet of every network the engines know, plus the host's routes (a clone must avoid them all)."""
    found: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    raw: list[str] = []
    for rt in runtimes:
        for n in rt.client.networks.list():  # type: ignore[attr-defined]
            attrs = n.attrs
            raw += [c.get("Subnet", "") for c in (attrs.get("IPAM") or {}).get("Config") or []]
            raw += [s.get("subnet", "") for s in attrs.get("subnets") or []]
    routes = run(["ip", "-j", "route", "show", "table", "all"], timeout=10)
    if routes.succeeded and routes.stdout.strip():
        raw += [r.get("dst", "") for r in json.loads(routes.stdout)]
    for text in raw:
        try:
            found.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            continue  # "default", "", multicast names: not a subnet a clone could collide with
    return found


def free_subnets(count: int, pool: str, used: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> list[str]:
    """*count* /24s of *pool* that overlap nothing in *used*."""
    net = ipaddress.ip_network(pool)
    if not isinstance(net, ipaddress.IPv4Network):
        raise DrillError(f"subnet pool {pool}: an IPv4 range is needed")
    out: list[str] = []
    for candidate in net.subnets(new_prefix=max(24, net.prefixlen)):
        if len(out) == count:
            break
        if not any(candidate.overlaps(u) for u in used if u.version == 4):
            out.append(str(candidate))
    if len(out) < count:
        raise DrillError(f"subnet pool {pool} has no {count} free /24s left; give another with --subnet-pool")
    return out


def clone_config(
    project: ComposeProject,
    clone_dir: Path,
    *,
    name: str,
    ports: Sequence[int],
    subnets: Sequence[str],
) -> tuple[dict[str, Any], list[PortMove], dict[str, tuple[str, str]], dict[str, tuple[str, str]], dict[str, str]]:
    """The clone's compose document, made from the live model (Compose's own ``config`` output).

    Paths inside the live project point into the clone; bind sources outside it get a place in the
    clone (``.drill-binds/N``, returned so their data can be copied); published ports, subnets,
    project, volume and network names are the clone's own.  External volumes and networks are shared
    by definition, so a project with any is refused.  Returns the document, the port moves, the subnet
    moves (network key -> live, clone), the volumes (key -> live name, clone name) and the binds to copy.
    """
    live_dir = str(project.project_dir)
    binds: dict[str, str] = {}

    def moved(path: str) -> str:
        if path == live_dir or path.startswith(live_dir + "/"):
            return str(clone_dir) + path[len(live_dir) :]
        if path not in binds:
            binds[path] = str(clone_dir / ".drill-binds" / str(len(binds)))
        return binds[path]

    doc: dict[str, Any] = json.loads(json.dumps(project.raw))  # a deep, plain copy
    doc["name"] = name
    port_iter = iter(ports)
    moves: list[PortMove] = []
    for svc_name, svc in sorted(doc.get("services", {}).items()):
        for key in [k for k, v in svc.items() if v is None]:
            del svc[key]  # `command: null` & co.: Compose's output, which podman-compose reads badly
        svc.pop("container_name", None)  # a fixed name would collide with the live container
        build = svc.get("build")
        if isinstance(build, dict) and isinstance(build.get("context"), str) and build["context"].startswith("/"):
            build["context"] = moved(build["context"]) if build["context"].startswith(live_dir) else build["context"]
        for mount in svc.get("volumes", []):
            if mount.get("type") == "bind" and str(mount.get("source", "")).startswith("/"):
                mount["source"] = moved(mount["source"])
        for port in svc.get("ports", []):
            if port.get("published") in (None, ""):
                continue
            new = next(port_iter, None)
            if new is None:
                raise DrillError("internal: fewer free ports than published ports")
            moves.append(PortMove(svc_name, int(port["target"]), int(port["published"]), new))
            port["published"] = new
            port["host_ip"] = "127.0.0.1"  # the clone is only ever reached from this host
    subnet_iter = iter(subnets)
    subnet_moves: dict[str, tuple[str, str]] = {}
    for key, spec in (doc.get("networks") or {}).items():
        if spec is None:
            continue
        if spec.get("external"):
            raise DrillError(f"network {key!r} is external: a drill cannot give its clone a network of its own")
        spec.pop("name", None)
        for ipam in (spec.get("ipam") or {}).get("config") or []:
            if "subnet" in ipam:
                new_subnet = next(subnet_iter)
                subnet_moves[key if key not in subnet_moves else f"{key}#{len(subnet_moves)}"] = (
                    ipam["subnet"],
                    new_subnet,
                )
                _move_static_addresses(doc, key, ipam["subnet"], new_subnet)
                ipam["subnet"] = new_subnet
                for k in ("gateway", "ip_range", "aux_addresses"):
                    ipam.pop(k, None)
    volumes: dict[str, tuple[str, str]] = {}
    for key, spec in (doc.get("volumes") or {}).items():
        if spec and spec.get("external"):
            raise DrillError(f"volume {key!r} is external: a drill cannot copy a volume it does not own")
        if spec:
            spec.pop("name", None)
        volumes[key] = (project.volume_name(key), f"{name}_{key}")
    for key in ("configs", "secrets"):
        for spec in (doc.get(key) or {}).values():
            if isinstance(spec, dict) and str(spec.get("file", "")).startswith("/"):
                spec["file"] = moved(spec["file"])
    return doc, moves, subnet_moves, volumes, binds


def _move_static_addresses(doc: dict[str, Any], network: str, old: str, new: str) -> None:
    old_net, new_net = ipaddress.ip_network(old, strict=False), ipaddress.ip_network(new)
    for svc in doc.get("services", {}).values():
        nets = svc.get("networks")
        spec = nets.get(network) if isinstance(nets, dict) else None
        if isinstance(spec, dict) and spec.get("ipv4_address"):
            offset = int(ipaddress.ip_address(spec["ipv4_address"])) - int(old_net.network_address)
            if offset >= new_net.num_addresses - 1:
                raise DrillError(f"static address {spec['ipv4_address']} does not fit the clone's /24 {new}")
            spec["ipv4_address"] = str(new_net.network_address + offset)


def make_clone(
    project: ComposeProject,
    docker: Runtime,
    *,
    scratch: Path | None = None,
    port_candidates: Iterable[int] | None = None,
    subnet_pool: str = DEFAULT_SUBNET_POOL,
    other_runtimes: Iterable[Runtime] = (),
    prefix: str = "drill-",
) -> Clone:
    """Copy *project* into a scratch directory as its own project, with copies of its volumes' data.

    The data comes from the project's backup when that verifies, else straight from *docker*'s volumes
    (read while the live stack runs: nothing of it is stopped).
    """
    root = Path(tempfile.mkdtemp(prefix="podshift-drill-", dir=scratch))
    root.chmod(0o755)  # a rootless Podman user must reach the clone's build contexts and binds
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    clone_dir = root / project.project_dir.name
    try:
        shutil.copytree(project.project_dir, clone_dir, symlinks=True, ignore=shutil.ignore_patterns(*NOT_CLONED))
        for stale in COMPOSE_FILE_NAMES:
            (clone_dir / stale).unlink(missing_ok=True)
        published = len(project.published_ports)
        ports = free_ports(published, port_candidates)
        nets = sum(len((s or {}).get("ipam", {}).get("config") or []) for s in project.networks.values())
        subnets = free_subnets(nets, subnet_pool, used_subnets([docker, *other_runtimes]))
        doc, moves, subnet_moves, volumes, binds = clone_config(
            project, clone_dir, name=name, ports=ports, subnets=subnets
        )
        for live, copy in binds.items():
            _copy_tree(Path(live), Path(copy))
        write_file_atomically(clone_dir / "compose.yaml", _yaml_bytes(doc))
        clone = Clone(name, root, clone_dir, moves, subnet_moves, volumes, binds)
        clone.data_source = _copy_volumes(project, clone, docker)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return clone


def _yaml_bytes(doc: Mapping[str, Any]) -> bytes:
    import io

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(dict(doc), out)
    header = "# podshift drill: a scratch clone of a live project (made from `docker compose config`)\n"
    return (header + out.getvalue()).encode()


def _copy_tree(src: Path, dst: Path) -> None:
    """``cp -a``: owners, modes, links and times kept (a bind source's files belong to container users)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not src.exists():
        dst.mkdir()  # Compose would have created the missing source: the clone gets an empty one
        return
    run(["cp", "-a", "--", str(src), str(dst)], timeout=3600).check()


def _copy_volumes(project: ComposeProject, clone: Clone, docker: Runtime) -> str:
    """Fill the clone's Docker volumes: from the verified backup when there is one, else from the live ones.

    The volumes are made as Compose would make them (its labels), so every tool sees them as the clone's.
    """
    store = BackupStore(project.project_dir)
    archives = {}
    if store.path.exists() and not store.verify():  # verify() re-reads every archive against the manifest
        archives = {a.name: store.path / a.archive for a in store.manifest().archives if a.kind == "volume"}
    from_backup = all(live in archives for live, _ in clone.volumes.values())
    for key, (live, copy) in clone.volumes.items():
        labels = {"com.docker.compose.project": clone.name, "com.docker.compose.volume": key}
        docker.volume_create(copy, labels)
        if from_backup:
            scan_file(str(archives[live]), archive=str(archives[live]), safe=True)  # refuses escapes first
            docker.volume_import(copy, file_chunks(str(archives[live])))
        elif docker.volume(live) is not None:
            docker.volume_import(copy, docker.volume_export(live))
    if from_backup:
        return f"backup {store.path}"
    return f"{docker.label} volumes of {project.name} (copied while it ran)"


# -- digests ---------------------------------------------------------------------------------------------
def volume_digest(runtime: Runtime, volume: str) -> Digest:
    """What is in *volume*, file by file, as its containers see it (owners, modes, content, links)."""
    return comparable(scan(runtime.volume_export(volume), archive=volume, safe=False).entries)


def manifest_digests(manifest_json: Path, prefix: str) -> dict[str, Digest]:
    """Per volume key (engine name without ``PREFIX_``), the digests a backup manifest recorded."""
    manifest = Manifest.from_json(manifest_json.read_bytes())
    return {a.name.removeprefix(prefix + "_"): comparable(a.entries) for a in manifest.archives if a.kind == "volume"}


def differences(
    before: Mapping[str, Digest], after: Mapping[str, Digest], *, written_after: float | None = None
) -> tuple[list[str], list[str]]:
    """Every path that differs between two sets of volume digests, named (``volume:path what``).

    Returns (not back, rewritten): with *written_after*, a file that is new or changed and whose
    modification time is at or after it was written by the application once the stack ran again, and
    is listed apart; everything else that differs (missing, changed with an older time, other types)
    did not come back.
    """
    lost: list[str] = []
    rewritten: list[str] = []

    def sort(line: str, entry: tuple[Any, ...]) -> None:
        mtime = entry[7]
        fresh = written_after is not None and mtime is not None and mtime >= int(written_after)
        (rewritten if fresh else lost).append(line)

    fields = ("type", "size", "mode", "uid", "gid", "sha256", "link", "mtime")
    for vol in sorted(before.keys() | after.keys()):
        b, a = before.get(vol), after.get(vol)
        if b is None or a is None:
            lost.append(f"{vol}: {'missing after' if a is None else 'not there before'}")
            continue
        lost += [f"{vol}:{p} missing" for p in sorted(b.keys() - a.keys())]
        for p in sorted(a.keys() - b.keys()):
            sort(f"{vol}:{p} new", a[p])
        for p in sorted(a.keys() & b.keys()):
            if a[p] != b[p]:
                changed = [f for f, x, y in zip(fields, b[p], a[p], strict=True) if x != y]
                sort(f"{vol}:{p} changed ({', '.join(changed)})", a[p])
    return lost, rewritten


# -- probing ---------------------------------------------------------------------------------------------
def probe_port(port: int, *, http: bool = True, timeout: float = PROBE_TIMEOUT) -> bool:
    """One request to 127.0.0.1:*port*: an HTTP answer below 500 (or, for a non-HTTP port, a connection)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            if not http:
                return True
            s.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = s.recv(12)
    except OSError:
        return False
    if not head.startswith(b"HTTP/"):
        return False
    try:
        return int(head[9:12]) < 500
    except ValueError:
        return False


def speaks_http(port: int, timeout: float = 2.0) -> bool:
    """Whether the service on *port* answers an HTTP request at all (else it is probed by connecting)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return s.recv(5) == b"HTTP/"
    except OSError:
        return False


@dataclass
class Sample:
    at: float  # time.monotonic()
    ok: bool
    failing: tuple[int, ...] = ()


class Prober:
    """Requests every published port every 100 ms from a thread, for at most *limit* seconds."""

    def __init__(self, ports: Sequence[int], *, limit: float = 3600.0, interval: float = PROBE_INTERVAL) -> None:
        self.ports = list(ports)
        self.http = {p: speaks_http(p) for p in self.ports}
        self.limit = limit
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="podshift-drill-probe", daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        end = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < end:
            start = time.monotonic()
            failing = tuple(p for p in self.ports if not probe_port(p, http=self.http[p]))
            self.samples.append(Sample(start, not failing, failing))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - start)))

    def outage(self, start: float, end: float | None = None) -> float | None:
        """Seconds the ports were down within [start, end]: each failed round to the first good one, summed.

        A migration has more than one outage (the backup's read with the services stopped, then the
        switch): all of them count.  0.0 when nothing failed; None when the ports never came back
        before *end* (or the probe's end).
        """
        window = [(s.at, s.ok) for s in self.samples if s.at >= start and (end is None or s.at <= end)]
        spans, still_down_since = outages(window)
        return None if still_down_since is not None else sum(spans)


def outages(marks: Iterable[tuple[float, bool]]) -> tuple[list[float], float | None]:
    """Each outage in (time, answered) marks, first failed to first good, in order; and when the last
    one began if nothing answered again (None when everything came back)."""
    spans: list[float] = []
    began: float | None = None
    for at, ok in marks:
        if not ok and began is None:
            began = at
        elif ok and began is not None:
            spans.append(at - began)
            began = None
    return spans, began


# -- the cycle --------------------------------------------------------------------------------------------
@dataclass
class SessionItem:
    """One item of a podshift session on the clone: a step (``migrate::stop-docker``) or a check."""

    nodeid: str
    outcome: str
    seconds: float


@dataclass
class StepOutcome:
    name: str
    argv: list[str]
    rc: int
    seconds: float
    tail: str  # the last lines podshift printed
    items: list[SessionItem] = field(default_factory=list)  # from the session's JSON report, when it wrote one

    @property
    def passed(self) -> bool:
        return self.rc == 0


@dataclass
class DrillResult:
    project: str
    clone: str
    clone_dir: str
    ports: list[PortMove]
    subnets: dict[str, tuple[str, str]]
    data_source: str
    steps: list[StepOutcome] = field(default_factory=list)
    migration_downtime: float | None = None
    rollback_downtime: float | None = None
    rollback_seconds: float | None = None
    max_downtime: float | None = None
    byte_differences: list[str] = field(default_factory=list)
    changed_by_application: list[str] = field(default_factory=list)
    compared_against: str = ""
    problems: list[str] = field(default_factory=list)
    kept: bool = False

    @property
    def passed(self) -> bool:
        return not self.failures()

    def failures(self) -> list[str]:
        out = list(self.problems)
        out += [f"step {s.name} failed (exit {s.rc})" for s in self.steps if not s.passed]
        if self.byte_differences:
            out.append(f"{len(self.byte_differences)} difference(s) in the volumes after the rollback")
        ran = {s.name for s in self.steps}
        for label, step, value in (
            ("migration", "migrate", self.migration_downtime),
            ("rollback", "rollback", self.rollback_downtime),
        ):
            if step in ran and value is None:
                out.append(f"{label}: the published ports did not answer again")
            elif value is not None and self.max_downtime is not None and value > self.max_downtime:
                out.append(f"{label} downtime {value:.1f} s exceeds --max-downtime {self.max_downtime:g} s")
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["failures"] = self.failures()
        return data

    def junit(self) -> bytes:
        suite = ET.Element("testsuite", name="podshift drill", tests="0", failures="0")
        cases: list[tuple[str, float, str | None]] = []
        for s in self.steps:
            cases.append((f"step {s.name}", s.seconds, None if s.passed else f"exit {s.rc}\n{s.tail}"))
            cases += [
                (f"{s.name}: {i.nodeid}", i.seconds, f"{i.outcome}" if i.outcome in ("failed", "error") else None)
                for i in s.items
            ]
        cases.append(("every byte back", 0.0, "\n".join(self.byte_differences) or None))
        for label, value in (("migration", self.migration_downtime), ("rollback", self.rollback_downtime)):
            bad = [f for f in self.failures() if f.startswith(label)]
            cases.append((f"{label} downtime", value or 0.0, "\n".join(bad) or None))
        for name, seconds, failure in cases:
            case = ET.SubElement(suite, "testcase", classname="podshift.drill", name=name, time=f"{seconds:.3f}")
            if failure:
                ET.SubElement(case, "failure", message=failure.splitlines()[0]).text = failure
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for _, _, f in cases if f)))
        data: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
        return data

    def html(self) -> bytes:
        def row(*cells: object) -> str:
            return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"

        verdict = "PASSED" if self.passed else "FAILED"
        parts = [
            "<!doctype html><meta charset='utf-8'><title>podshift drill</title>",
            f"<h1>podshift drill: {verdict}</h1><p>{html.escape(self.project)} as clone {html.escape(self.clone)}</p>",
            "<table border=1><tr><th>step</th><th>exit</th><th>seconds</th></tr>",
            *(
                line
                for s in self.steps
                for line in [
                    row(s.name, s.rc, f"{s.seconds:.1f}"),
                    *(row(f"  {i.nodeid}", i.outcome, f"{i.seconds:.1f}") for i in s.items),
                ]
            ),
            "</table><table border=1>",
            row("migration downtime (s)", _fmt(self.migration_downtime)),
            row("rollback downtime (s)", _fmt(self.rollback_downtime)),
            row("total rollback time (s)", _fmt(self.rollback_seconds)),
            row("max downtime (s)", _fmt(self.max_downtime)),
            row("volume data from", self.data_source),
            row("every byte back", "yes" if not self.byte_differences else "; ".join(self.byte_differences)),
            row("compared against", self.compared_against),
            row("written by the application after the snapshot", "; ".join(self.changed_by_application) or "-"),
            "</table>",
            *(f"<p>{html.escape(f)}</p>" for f in self.failures()),
        ]
        return "\n".join(parts).encode()


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def podshift_argv(verb: str, *args: str) -> list[str]:
    """The same podshift as this one, as a user would run it."""
    return [sys.executable, "-m", "podshift", verb, *args]


def read_session_report(path: Path) -> list[SessionItem]:
    """The steps and checks of a podshift session, from its pytest-json-report file ([] when there is none)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    items = []
    for test in data.get("tests", []):
        phases = (test.get(phase) or {} for phase in ("setup", "call", "teardown"))
        seconds = sum(float(p.get("duration", 0.0)) for p in phases)
        items.append(SessionItem(str(test.get("nodeid", "")), str(test.get("outcome", "")), seconds))
    return items


def keep_session_reports(clone: Clone, verb: str, reports_dir: Path) -> None:
    """Copy the reports a podshift session wrote in the clone (they go with it) as ``drill-VERB.*``."""
    for ext in ("json", "xml", "html", "log"):
        src = clone.project_dir / REPORTS_DIR_NAME / f"{verb}.{ext}"
        if src.is_file():
            write_file_atomically(reports_dir / f"drill-{verb}.{ext}", src.read_bytes())


def run_step(
    name: str, argv: Sequence[str], clone: Clone, echo: Callable[[str], None], reports_dir: Path | None = None
) -> StepOutcome:
    echo(f"podshift drill: {name}: {' '.join(argv[2:])}")
    start = time.monotonic()
    try:
        proc = subprocess.run(
            list(argv), cwd=clone.project_dir, env=clone.env(), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        echo(f"podshift drill: {name}: no end after {STEP_TIMEOUT:g} s; stopped")
        return StepOutcome(name, list(argv), 124, time.monotonic() - start, f"no end after {STEP_TIMEOUT:g} s")
    seconds = time.monotonic() - start
    log.info("%s exit %d in %.1f s\n%s\n%s", name, proc.returncode, seconds, proc.stdout, proc.stderr)
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
    echo(f"podshift drill: {name}: exit {proc.returncode} in {seconds:.1f} s")
    verb = argv[3]
    items = read_session_report(clone.project_dir / REPORTS_DIR_NAME / f"{verb}.json")
    if reports_dir is not None:
        keep_session_reports(clone, verb, reports_dir)
    return StepOutcome(name, list(argv), proc.returncode, seconds, tail, items)


def run_drill(
    project: ComposeProject,
    docker: Runtime,
    *,
    max_downtime: float | None = None,
    keep: bool = False,
    reports_dir: Path,
    rootless_user: str | None = None,
    subnet_pool: str = DEFAULT_SUBNET_POOL,
    port_candidates: Iterable[int] | None = None,
    podman: Runtime | None = None,
    prefix: str = "drill-",
    echo: Callable[[str], None] = print,
) -> DrillResult:
    """The whole rehearsal on a clone of *project*; reports in *reports_dir*; the clone removed unless *keep*."""
    clone = make_clone(
        project, docker, port_candidates=port_candidates, subnet_pool=subnet_pool,
        other_runtimes=[podman] if podman is not None else [],
        prefix=prefix,
    )  # fmt: skip
    result = DrillResult(
        project.name, clone.name, str(clone.project_dir), clone.ports, clone.subnets, clone.data_source,
        max_downtime=max_downtime, kept=keep,
    )  # fmt: skip
    echo(f"podshift drill: clone {clone.name} in {clone.project_dir} (volume data from {clone.data_source})")
    for m in clone.ports:
        echo(f"podshift drill:   {m.service}: 127.0.0.1:{m.clone} (live {m.live})")
    for key, (old, new) in clone.subnets.items():
        echo(f"podshift drill:   network {key}: {new} (live {old})")
    model = load_project(clone.project_dir, env=clone.env())
    try:
        DockerComposeProvider(model, docker).up()
        _cycle(result, clone, model, docker, rootless_user, echo, reports_dir)
    except PodshiftError as e:
        result.problems.append(str(e))
    finally:
        if not keep:
            result.problems += [f"left behind: {what}" for what in remove_clone(clone, model, docker, podman)]
        else:
            echo(f"podshift drill: the clone is kept in {clone.root} (project {clone.name})")
        write_reports(result, reports_dir)
    return result


def _cycle(
    result: DrillResult,
    clone: Clone,
    model: ComposeProject,
    docker: Runtime,
    rootless_user: str | None,
    echo: Callable[[str], None],
    reports_dir: Path | None = None,
) -> None:
    where = ("--project-dir", str(clone.project_dir))
    backup = run_step("backup", podshift_argv("backup", "--include-data", *where), clone, echo, reports_dir)
    result.steps.append(backup)
    if not backup.passed:
        return
    before = manifest_digests(clone.project_dir / BACKUP_DIR_NAME / "backup-manifest.json", clone.name)
    with Prober([m.clone for m in clone.ports]) as prober:
        t0 = time.monotonic()
        migrate_args = [*where, *(["--rootless-user", rootless_user] if rootless_user else [])]
        # --use-backup: the backup just taken is the "before" of every byte; migrate must not take another.
        migrate = run_step("migrate", podshift_argv("migrate", "--use-backup", *migrate_args), clone, echo, reports_dir)
        result.steps.append(migrate)
        t1 = time.monotonic()
        _wait_for_good(prober, t1)
        result.migration_downtime = prober.outage(t0)
        # Roll back even when the migration failed: the way back from a half-done migration is the
        # one an operator needs most, so it is rehearsed too.
        t2 = time.monotonic()
        rollback = run_step(
            "rollback", podshift_argv("rollback", "--force", "--keep-data", *migrate_args), clone, echo, reports_dir
        )
        result.steps.append(rollback)
        _wait_for_good(prober, time.monotonic())
        result.rollback_downtime = prober.outage(t2)
        result.rollback_seconds = rollback.seconds
    if not rollback.passed:
        return
    # Quiesce the clone before reading its volumes: a running application keeps writing.
    run([*DockerComposeProvider(model, docker).base_argv(), "stop"], env=clone.env(), timeout=300).check()
    after = {key: volume_digest(docker, copy) for key, (_, copy) in clone.volumes.items()}
    snapshot = clone.project_dir / BACKUP_DIR_NAME / "podman-snapshot" / "backup-manifest.json"
    if snapshot.is_file():
        # What Podman held when the rollback stopped it must be back in Docker, byte for byte; files the
        # restarted application wrote after that snapshot are listed apart (their times say so).
        taken = Manifest.from_json(snapshot.read_bytes()).created
        result.compared_against = "the rollback's Podman snapshot"
        lost, rewritten = differences(manifest_digests(snapshot, clone.name), after, written_after=taken)
    else:
        result.compared_against = "the backup taken before the migration"
        taken = Manifest.from_json((clone.project_dir / BACKUP_DIR_NAME / "backup-manifest.json").read_bytes()).created
        lost, rewritten = differences(before, after, written_after=taken)
    result.byte_differences, result.changed_by_application = lost, rewritten


def _wait_for_good(prober: Prober, since: float, limit: float = 120.0) -> None:
    """Let the probe see the ports answer again (bounded), so the outage has an end."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if any(s.ok for s in prober.samples if s.at >= since):
            return
        time.sleep(PROBE_INTERVAL)


def remove_clone(clone: Clone, model: ComposeProject, docker: Runtime, podman: Runtime | None) -> list[str]:
    """Remove all the drill made: the clone's containers, networks and volumes on both engines, its directory.

    Returns what could not be removed (each named), so the report says what is left behind.
    """
    left: list[str] = []
    down = run([*DockerComposeProvider(model, docker).base_argv(), "down", "--volumes"], env=clone.env(), timeout=600)
    if not down.succeeded:
        left.append(f"docker compose down of {clone.name}: {down.stderr.strip()[-300:]}")
    for rt in (docker, podman):
        if rt is None:
            continue
        # A failed migrate or a rollback without --cleanup leaves the clone's Podman side behind.
        removals: list[tuple[str, Callable[[], None]]] = []
        try:
            removals += [
                (f"container {c.name}", _bind(rt.remove_container, c.id)) for c in rt.project_containers(clone.name)
            ]
            removals += [
                (f"network {n.name}", _bind(_remove_network, rt, n.id)) for n in rt.project_networks(clone.name)
            ]
            removals += [
                (f"volume {v.name}", _bind(rt.volume_remove, v.name, force=True))
                for v in rt.project_volumes(clone.name)
            ]
        except PodshiftError as e:
            left.append(f"{rt.label}: could not list the clone's objects: {e}")
        for what, remove in removals:
            try:
                remove()
            except Exception as e:  # whatever the engine raised: go on, and name what is left
                left.append(f"{rt.label} {what}: {e}")
    for _, copy in clone.volumes.values():  # made by the drill: gone even if Compose never ran
        if docker.volume(copy) is not None:
            docker.volume_remove(copy, force=True)
    shutil.rmtree(clone.root, ignore_errors=True)
    return left


def _bind(fn: Callable[..., None], *args: Any, **kwargs: Any) -> Callable[[], None]:
    return lambda: fn(*args, **kwargs)


def _remove_network(rt: Runtime, network_id: str) -> None:
    rt.client.networks.get(network_id).remove()  # type: ignore[attr-defined]


def write_reports(result: DrillResult, reports_dir: Path) -> None:
    write_file_atomically(reports_dir / "drill.json", json.dumps(result.to_json(), indent=2).encode())
    write_file_atomically(reports_dir / "drill.xml", result.junit())
    write_file_atomically(reports_dir / "drill.html", result.html())
