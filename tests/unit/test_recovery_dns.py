"""Stale aardvark-dns files: the decision over recorded files of Podman 4.3.1 / aardvark-dns 1.4, and the
fd-relative removal that follows no symlink."""

from __future__ import annotations

import os
from pathlib import Path

from podshift.recovery.dns import (
    PID_FILE,
    aardvark_pid,
    parse_config,
    read_listing,
    remove_files,
    stale_bridges,
    stale_dns,
)

# Recorded on this host: the file a container left when rootlessport refused port 80 (no trailing newline) ...
STALE = "10.89.0.1\n601a519c26883f8456e028d0a93d1615ca543b955f005ea94e24d1c4787745b8 10.89.0.2  s5-c1,601a519c2688"
# ... and a live compose network's file.
LIVE = (
    "10.14.64.1\n"
    "0068393f102ca16561eec8327b14f94be1f564d4bfebffb4f5c85c111710fc26 10.14.64.2  "
    "i14-seed-ec31ca_api_1,api,0068393f102c\n"
    "156f36f788f0317b31eb5efa08e4f0c2a99f19bf1eb8cd1908ee228a6e2df1f7 10.14.64.3  "
    "i14-seed-ec31ca_web_1,web,156f36f788f0\n"
)
API = "0068393f102ca16561eec8327b14f94be1f564d4bfebffb4f5c85c111710fc26"
WEB = "156f36f788f0317b31eb5efa08e4f0c2a99f19bf1eb8cd1908ee228a6e2df1f7"


def test_parse_recorded_files() -> None:
    stale = parse_config(STALE)
    assert stale.gateways == ("10.89.0.1",)
    assert stale.entries[0].ipv4 == ("10.89.0.2",)
    assert stale.entries[0].ipv6 == ()
    assert stale.entries[0].names == ("s5-c1", "601a519c2688")
    live = parse_config(LIVE)
    assert [e.names[1] for e in live.entries] == ["api", "web"]
    # later versions append DNS servers after the gateways; a dual-stack gateway line
    assert parse_config("10.89.0.1,fd00::1 1.1.1.1\n").gateways == ("10.89.0.1", "fd00::1")


def test_hostile_content_does_not_break_parsing() -> None:
    assert parse_config("").entries == ()
    assert parse_config("garbage\nno-fields\n\x00\x01 x\n").entries == ()


def test_file_of_a_gone_network_is_stale() -> None:
    listing = {PID_FILE: "12948", "s5-n1": STALE, "i14_phoenix-net": LIVE}
    found = stale_dns(listing, networks=["podman", "i14_phoenix-net"], containers=[API, WEB])
    assert [(s.network, s.network_gone) for s in found] == [("s5-n1", True)]
    assert found[0].gateways == ("10.89.0.1",)
    said = found[0].describe(Path("/run/user/1002/containers/networks/aardvark-dns"))
    assert "/run/user/1002/containers/networks/aardvark-dns/s5-n1 belongs to network s5-n1" in said
    assert "gateway 10.89.0.1" in said
    assert "s5-c1" in said


def test_nothing_stale_when_everything_exists() -> None:
    listing = {PID_FILE: "1", "i14_phoenix-net": LIVE}
    assert stale_dns(listing, ["i14_phoenix-net"], [API, WEB]) == []
    assert stale_dns(listing, ["i14_phoenix-net"], [API[:12], WEB[:12]]) == []  # short ids count too
    assert stale_dns({}, [], []) == []


def test_gone_containers_in_a_live_network_are_named_not_the_network() -> None:
    found = stale_dns({"i14_phoenix-net": LIVE}, ["i14_phoenix-net"], [API])
    assert len(found) == 1
    assert not found[0].network_gone
    assert [e.names[1] for e in found[0].entries] == ["web"]


IP_ADDR = [
    {"ifname": "lo", "addr_info": [{"local": "127.0.0.1"}]},
    {"ifname": "tap0", "addr_info": [{"local": "10.0.2.100"}]},
    {"ifname": "podman1", "addr_info": [{"local": "10.89.0.1"}, {"local": "fe80::1"}]},
    {"ifname": "podman2", "addr_info": [{"local": "10.89.0.1"}]},
]


def test_leftover_bridge_is_the_one_no_network_uses() -> None:
    assert stale_bridges(IP_ADDR, ["10.89.0.1"], live=["podman2"]) == ["podman1"]
    # the new network reused the bridge: nothing to delete
    assert stale_bridges(IP_ADDR[:3], ["10.89.0.1"], live=["podman1"]) == []
    assert stale_bridges(IP_ADDR, ["not-an-ip"], live=[]) == []


def test_remove_files_follows_no_symlink(tmp_path: Path) -> None:
    d = tmp_path / "aardvark-dns"
    d.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (d / "s5-n1").write_text(STALE)
    (d / "evil").symlink_to(victim)
    (d / "sub").mkdir()
    (d / PID_FILE).write_text("1")
    assert "evil" not in read_listing(d)  # a symlink is not read either
    failed = remove_files(d, ["s5-n1", "evil", "sub", "../victim", PID_FILE, "missing"])
    assert not (d / "s5-n1").exists()
    assert not (d / "evil").is_symlink()
    assert victim.read_text() == "keep"
    assert (d / "sub").is_dir()
    assert (d / PID_FILE).exists()
    assert any("sub" in f for f in failed)
    assert any("../victim" in f for f in failed)


def test_symlinked_dir_is_not_read(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "net").write_text(STALE)
    (tmp_path / "link").symlink_to(real)
    assert read_listing(tmp_path / "link") == {}
    assert remove_files(tmp_path / "link", ["net"]) == []
    assert (real / "net").exists()


def test_pid_file_never_names_a_foreign_process(tmp_path: Path) -> None:
    d = tmp_path / "aardvark-dns"
    d.mkdir()
    (d / PID_FILE).write_text(str(os.getpid()))  # pytest itself: not aardvark-dns
    assert aardvark_pid(d, os.getuid()) is None
    (d / PID_FILE).write_text("1")  # init
    assert aardvark_pid(d, os.getuid()) is None
    (d / PID_FILE).write_text("not a pid")
    assert aardvark_pid(d, os.getuid()) is None
