from __future__ import annotations

import os
import pwd

import pytest

from podshift.commands import RunAs, run
from podshift.errors import CommandError, ToolMissing


def test_run_captures_output_and_exit_code() -> None:
    result = run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.rc, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.succeeded


def test_check_raises_with_stderr() -> None:
    with pytest.raises(CommandError, match="boom") as info:
        run(["sh", "-c", "echo boom >&2; exit 2"]).check()
    assert info.value.returncode == 2


def test_arguments_are_never_interpreted_by_a_shell() -> None:
    hostile = "$(touch /tmp/podshift-pwned); `id`"
    assert run(["printf", "%s", hostile]).stdout == hostile
    assert not os.path.exists("/tmp/podshift-pwned")


def test_missing_program_is_a_domain_error() -> None:
    with pytest.raises(ToolMissing, match="no-such-podshift-tool"):
        run(["no-such-podshift-tool"])


def test_run_as_self_does_not_wrap() -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert RunAs(me).wrap(["id"]) == ["id"]


def test_timeout_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="timed out"):
        run(["sleep", "5"], timeout=0.2)


def test_can_access_for_another_user_follows_permission_bits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from podshift.probes import can_access

    nobody = "nobody"
    tmp_path.chmod(0o755)
    open_file = tmp_path / "open"
    open_file.write_text("x")
    open_file.chmod(0o644)
    private = tmp_path / "private"
    private.write_text("x")
    private.chmod(0o600)
    closed_dir = tmp_path / "closed"
    closed_dir.mkdir(mode=0o700)
    inner = closed_dir / "inner"
    inner.write_text("x")
    inner.chmod(0o644)
    if os.geteuid() != 0:
        pytest.skip("needs root to see files other users cannot")
    # pytest's basetemp is 0700 root: open the chain to tmp_path for this test.
    for parent in tmp_path.parents:
        if str(parent).startswith("/tmp/pytest-of-"):
            parent.chmod(parent.stat().st_mode | 0o005)
    assert can_access(open_file, nobody, os.R_OK)
    assert not can_access(open_file, nobody, os.W_OK)
    assert not can_access(private, nobody, os.R_OK)
    assert not can_access(inner, nobody, os.R_OK), "a 0700 parent must block"
    assert can_access(private, "root", os.R_OK)
