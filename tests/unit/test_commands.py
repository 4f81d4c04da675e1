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
