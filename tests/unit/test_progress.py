"""Progress lines: readable units, no absurd first rate, the final figures drawn at the end."""

from __future__ import annotations

import io

import pytest

from podshift.progress import TerminalProgress, human_size


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (17, "17 B"), (1536, "1.5 KiB"), (12 * 2**20, "12.0 MiB"), (3 * 2**30 + 2**29, "3.5 GiB")],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_the_last_figures_are_shown_and_no_rate_before_it_means_something(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    progress = TerminalProgress(enabled=True)
    for n in range(1, 20):  # 19 files in well under the redraw interval
        progress("configuration", n * 600, n)
    progress.finish()
    final = err.getvalue().split("\r")[-1].strip()
    assert final == "configuration: 11.1 KiB, 19 files", final
    assert "/s" not in err.getvalue(), "a rate over a few microseconds is noise"
