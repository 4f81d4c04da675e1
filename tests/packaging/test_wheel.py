"""podshift as users install it: a wheel in a fresh venv outside the checkout, run from a scratch directory.

The wheel is built once per module (all tests here share one xdist worker);
each install is a new venv in a temporary directory, as root (the test's own
Python) and as the rootless user with Debian's /usr/bin/python3 (root's
interpreter may not be executable by that user).  Nothing of the checkout is
importable there: no PYTHONPATH, a scratch working directory.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..conftest import EXAMPLE, REPO

pytestmark = pytest.mark.xdist_group("wheel")

ROOTLESS_USER = os.environ.get("PODSHIFT_ROOTLESS_USER", "podshift")
VERDICT = re.compile(r"^podshift verdict: (READY WITH WARNINGS|READY|NOT READY)", re.MULTILINE)


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would let the checkout or the test venv leak in."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return {**env, **extra}


@pytest.fixture(scope="module")
def shared_tmp() -> Iterator[Path]:
    """A temporary directory outside the checkout that every user can read."""
    path = Path(tempfile.mkdtemp(prefix="i10-wheel-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def wheel(shared_tmp: Path) -> Path:
    """podshift's wheel, built once from the checkout (without the checkout's build leftovers)."""
    out = shared_tmp / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (built,) = out.glob("podshift-*.whl")
    built.chmod(0o644)
    out.chmod(0o755)
    return built


def test_wheel_holds_podshift_only_with_its_checks_fixes_and_type_marker(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"podshift"}, top
    # Every package of the checkout is in the wheel (pyproject lists them: a new one must be added there).
    for source, target in (
        (REPO / "src" / "podshift", "podshift"),
        (REPO / "checks", "podshift/checks"),
        (REPO / "remediations", "podshift/remediations"),
    ):
        for init in source.rglob("__init__.py"):
            rel = init.relative_to(source).as_posix()
            assert f"{target}/{rel}" in names, f"{init} is not in the wheel: list its package in pyproject.toml"
    assert "podshift/py.typed" in names
    assert "podshift/checks/conftest.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "podshift-remediations = podshift.remediations" in text
    assert "podshift = podshift.plugin" in text


@dataclass
class Install:
    """A venv holding podshift's wheel, and who uses it."""

    venv: Path
    user: str | None  # None: root (this process)

    def run(self, argv: Sequence[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = _clean_env()
        full = list(argv)
        if self.user is not None:
            pw = pwd.getpwnam(self.user)
            user_env = {
                "HOME": pw.pw_dir,
                "USER": self.user,
                "LOGNAME": self.user,
                "XDG_RUNTIME_DIR": f"/run/user/{pw.pw_uid}",
                "PATH": env["PATH"],
                **{k: v for k, v in env.items() if k.startswith(("PIP_", "PODSHIFT_REQUIRE", "NO_COLOR"))},
            }
            full = ["runuser", "-u", self.user, "--", "env", "-i", *(f"{k}={v}" for k, v in user_env.items()), *full]
        return subprocess.run(full, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout)

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def _install(wheel: Path, root: Path, python: str, user: str | None) -> Install:
    install = Install(root / "venv", user)
    for argv in ([python, "-m", "venv", str(install.venv)], [install.bin("pip"), "install", "-q", str(wheel)]):
        proc = install.run(argv, cwd=root)
        assert proc.returncode == 0, f"{argv}: {proc.stderr[-3000:]}"
    return install


def _scratch_project(root: Path, owner: str | None) -> Path:
    project = root / "work" / "phoenix-hydra"
    shutil.copytree(EXAMPLE, project)
    if owner is not None:
        pw = pwd.getpwnam(owner)
        for path in [root / "work", *(root / "work").rglob("*")]:
            os.lchown(path, pw.pw_uid, pw.pw_gid)
    return project


def _private_root(owner: str | None) -> Path:
    root = Path(tempfile.mkdtemp(prefix="i10-install-"))
    if owner is not None:
        root.chmod(0o755)
        pw = pwd.getpwnam(owner)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    return root


@pytest.fixture(scope="module", params=["root", "rootless"])
def installed(request: pytest.FixtureRequest, wheel: Path) -> Iterator[tuple[Install, Path]]:
    """(the install, a scratch copy of the reference stack) for root and for the rootless user."""
    user = None if request.param == "root" else ROOTLESS_USER
    if user is not None:
        try:
            pwd.getpwnam(user)
        except KeyError:
            pytest.fail(f"the rootless user {user} does not exist (scripts/provision-engines.sh creates it)")
    # Root's interpreter (e.g. pyenv under /root) may not be executable by the user: Debian's python3 is.
    python = sys.executable if user is None else "/usr/bin/python3"
    root = _private_root(user)
    try:
        install = _install(wheel, root, python, user)
        yield install, _scratch_project(root, user)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _verdict(proc: subprocess.CompletedProcess[str]) -> str:
    found = VERDICT.findall(proc.stdout)
    assert found, f"no verdict (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    return str(found[-1])


def _expected_rc(verdict: str) -> int:
    return 1 if verdict == "NOT READY" else 0


def test_installed_package_is_the_one_imported(installed: tuple[Install, Path]) -> None:
    install, project = installed
    proc = install.run(
        [
            install.bin("python"),
            "-c",
            "import podshift.checks, podshift.remediations as r; print(podshift.checks.__file__); print(r.__file__)",
        ],
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr
    for line in proc.stdout.split():
        assert line.startswith(str(install.venv)), line
    proc = install.run([install.bin("python"), "-c", "import remediations"], cwd=project.parent)
    assert proc.returncode != 0, "a top-level package `remediations` is importable"


def test_validate_in_the_project_directory(installed: tuple[Install, Path]) -> None:
    install, project = installed
    proc = install.run([install.bin("podshift"), "validate"], cwd=project)
    verdict = _verdict(proc)
    assert proc.returncode == _expected_rc(verdict), proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    report = project / "reports" / "migration-prerequisites-report.txt"
    assert report.is_file(), proc.stdout[-2000:]
    text = report.read_text()
    assert f"Project:   {project} (project phoenix-hydra)" in text
    user = install.user or "root"
    assert re.search(rf"^User: +{user} \(uid \d+\)$", text, re.MULTILINE), text[:800]
    assert f"podshift: report: {report}" in proc.stdout
    # No pytest furniture by default: no header, no plugin list, no short test summary.
    assert "platform linux" not in proc.stdout
    assert "plugins:" not in proc.stdout
    assert "short test summary" not in proc.stdout
    if install.user is not None:  # the user is not in the docker group (provisioning leaves it out)
        assert "join the `docker` group" in proc.stdout, proc.stdout[-3000:]
        assert f"--rootless-user {install.user}" in proc.stdout
        assert "systemctl start docker" not in proc.stdout


def test_backup_verify_only_in_the_project_directory(installed: tuple[Install, Path]) -> None:
    install, project = installed
    proc = install.run([install.bin("podshift"), "backup", "--verify-only"], cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "docker-compose.yml" in proc.stdout
    assert "nothing was written" in proc.stdout
    assert not (project / ".docker-backup").exists()


def test_documented_pytest_invocation(installed: tuple[Install, Path]) -> None:
    install, project = installed
    proc = install.run(
        [install.bin("pytest"), "--pyargs", "podshift.checks", "-m", "prerequisites", "-p", "no:cacheprovider"],
        cwd=project,
    )
    verdict = _verdict(proc)
    assert proc.returncode == _expected_rc(verdict), proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
