from __future__ import annotations

import tarfile
from pathlib import Path

from podshift.images import busybox_rootfs_tar


def test_rootfs_has_busybox_and_applet_links(tmp_path: Path) -> None:
    tar = busybox_rootfs_tar(tmp_path / "rootfs.tar")
    with tarfile.open(tar) as t:
        members = {m.name: m for m in t.getmembers()}
    assert members["bin/busybox"].isfile()
    assert members["bin/sh"].issym()
    assert members["bin/sh"].linkname == "busybox"
    assert members["bin/tar"].issym()
    assert members["tmp"].mode == 0o1777
