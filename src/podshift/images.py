"""Local images podshift needs for its own helper containers — built, never pulled.

No registry is assumed reachable.  The helper image is a root filesystem made
of the host's static busybox (Debian's ``busybox-static``) and its applet
links, imported with the engine's ``import``.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from podshift.errors import ToolMissing

if TYPE_CHECKING:
    from podshift.runtimes.base import Runtime

HELPER_IMAGE = "localhost/podshift-helper:1"
_BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


def find_static_busybox() -> Path:
    """The host's statically linked busybox, or :class:`ToolMissing`."""
    for candidate in (*_BUSYBOX_CANDIDATES, shutil.which("busybox")):
        if not candidate or not Path(candidate).is_file():
            continue
        # A dynamically linked busybox would need the host's libc inside the
        # image; its ELF interpreter path sits in the first page.
        with open(candidate, "rb") as f:
            if b"ld-linux" in f.read(4096):
                continue
        return Path(candidate)
    raise ToolMissing("busybox (static)", "install it: apt-get install busybox-static")


def busybox_rootfs_tar(dest: Path) -> Path:
    """Write a minimal root filesystem tarball (busybox + applet symlinks) to *dest*."""
    busybox = find_static_busybox()
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()
    with tarfile.open(dest, "w") as tar:
        for d, mode in (("bin", 0o755), ("tmp", 0o1777), ("etc", 0o755), ("volume", 0o755)):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(str(busybox), arcname="bin/busybox")
        for applet in applets:
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        passwd = b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    return dest


#: How the helper image runs when started without a command.
HELPER_CHANGES = ('CMD ["/bin/sh"]',)


@contextlib.contextmanager
def helper_rootfs(*, shared: bool) -> Iterator[Path]:
    """The helper image's root filesystem tarball, in a temporary directory removed afterwards.

    *shared*: readable by other users (a rootless user's engine reads the file).
    """
    with tempfile.TemporaryDirectory(prefix="podshift-rootfs-") as tmp:
        tar = busybox_rootfs_tar(Path(tmp) / "rootfs.tar")
        if shared:
            Path(tmp).chmod(0o755)
            tar.chmod(0o644)
        yield tar


def ensure_helper_image(runtime: Runtime, tag: str = HELPER_IMAGE) -> str:
    """Make sure *tag* exists in *runtime* (importing it once); return the tag."""
    if runtime.image(tag) is None:
        with helper_rootfs(shared=runtime.rootless) as tar:
            runtime.image_import(tar, tag, changes=list(HELPER_CHANGES))
    return tag
