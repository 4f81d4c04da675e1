"""Pure parts of the migration: which entries a second copy pass sends, and user-namespace id maps."""

from __future__ import annotations

import pytest

from podshift.backup.tarscan import Entry
from podshift.migration.binds import IdMap
from podshift.volumes.transfer import CTIME_SLACK_NS, Baseline, _changes

S_IFREG, S_IFDIR = 0o100000, 0o040000
T0 = 1_700_000_000.0  # the first pass began here
OLD = int(T0 * 1e9) - 10 * CTIME_SLACK_NS - 123  # long before it (and not on a whole second)


def st(kind: int = S_IFREG, size: int = 1, mtime: int = OLD, ctime: int = OLD, mode: int = 0o644, ino: int = 1):
    return [kind, size, mtime, ctime, mode, 0, 0, ino]


def entries(*paths: str, links: dict[str, str] | None = None) -> list[Entry]:
    links = links or {}
    return [Entry(p, "hardlink" if p in links else "file", 0, 0o644, 0, 0, 0, link=links.get(p, "")) for p in paths]


def test_nothing_changed_sends_nothing() -> None:
    stats = {"a": st(ino=1), "d": st(S_IFDIR, ino=2), "d/b": st(ino=3)}
    assert _changes(Baseline(T0, stats), entries("a", "d", "d/b"), dict(stats)) == ([], [])


def test_changed_new_and_removed_entries() -> None:
    old = {"a": st(ino=1), "d": st(S_IFDIR, ino=2), "d/b": st(ino=3), "gone": st(ino=4)}
    now = {"a": st(size=2, ino=1), "d": st(S_IFDIR, ino=2), "d/b": st(ino=3), "d/new": st(ino=5)}
    send, remove = _changes(Baseline(T0, old), entries(*now), now)
    assert send == ["a", "d", "d/new"]  # the parent directory goes with a new entry
    assert remove == ["gone"]


def test_a_write_during_the_first_pass_is_sent_again_even_with_equal_stats() -> None:
    during = int(T0 * 1e9) + 5  # ctime after the pass began: tar may have read it half-written
    stats = {"a": st(ctime=during)}
    assert _changes(Baseline(T0, stats), entries("a"), dict(stats))[0] == ["a"]


def test_chmod_is_seen_through_ctime_and_mode() -> None:
    old = {"a": st()}
    now = {"a": st(mode=0o600, ctime=OLD + 1)}
    assert _changes(Baseline(T0, old), entries("a"), now)[0] == ["a"]


def test_a_type_change_removes_before_sending() -> None:
    old = {"x": st(S_IFDIR, ino=1), "x/y": st(ino=2)}
    now = {"x": st(S_IFREG, ino=3)}
    send, remove = _changes(Baseline(T0, old), entries("x"), now)
    assert send == ["x"]
    assert remove == ["x/y", "x"]  # deepest first


def test_a_hardlink_group_goes_whole() -> None:
    old = {"a": st(ino=7), "b": st(ino=7), "c": st(ino=8)}
    now = {"a": st(ino=7, size=5, ctime=OLD + 1), "b": st(ino=7, size=5, ctime=OLD + 1), "c": st(ino=8)}
    send, _ = _changes(Baseline(T0, old), entries("a", "b", "c", links={"b": "a"}), now)
    assert send == ["a", "b"]


def test_baseline_round_trips_through_json() -> None:
    b = Baseline(T0, {"a": st()})
    assert Baseline.from_json(b.to_json()) == b


def test_id_map_maps_inside_ids_to_host_ids() -> None:
    m = IdMap.parse("         0       1001          1\n         1     100000      65536\n")
    assert m.to_host(0) == 1001
    assert m.to_host(999) == 100998
    assert m.to_host(70000) is None
    assert m.covers_host(1001)
    assert m.covers_host(100998)
    assert not m.covers_host(0)


@pytest.mark.parametrize("text", ["", "\n"])
def test_empty_id_map_maps_nothing(text: str) -> None:
    assert IdMap.parse(text).to_host(0) is None


def test_docker_sock_mounts_point_at_the_podman_socket() -> None:
    from podshift.remediations.migrate.compose_rewrite import _point_sockets

    text = b"""# keep me
services:
  ui:
    image: localhost/ui:1
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock:ro
      - data:/data
  agent:
    image: localhost/agent:1
    volumes:
      - type: bind
        source: /run/docker.sock
        target: /sock
"""
    out = _point_sockets(text, "/run/user/1001/podman/podman.sock")
    assert out is not None
    assert b"- /run/user/1001/podman/podman.sock:/var/run/docker.sock:ro" in out
    assert b"source: /run/user/1001/podman/podman.sock" in out
    assert b"# keep me" in out and b"- data:/data" in out  # noqa: PT018 - one round trip, two facts
    assert _point_sockets(b"services:\n  a:\n    image: x\n", "/s") is None
