"""podshift's own readiness report, rendered by a real browser (Debian's chromium, headless).

What a person sees is checked on what the browser produced: the DOM after
parsing (``--dump-dom``) for the words, and a screenshot for the verdict's
colour.  No JavaScript runs in the page, so the parsed DOM is what shows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from .test_verdict import write_checks

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
RED = (0xCF, 0x22, 0x2E)  # NOT READY
AMBER = (0x9A, 0x67, 0x00)  # READY WITH WARNINGS


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("PODSHIFT_REQUIRE_ENGINES") == "1":
            pytest.fail("chromium is required (scripts/provision-engines.sh installs it)")
        pytest.skip("chromium is not installed (scripts/provision-engines.sh installs it)")
    return found


def browse(chromium: str, page: Path, profile: Path, *action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *action, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=profile,
    )


class _Text(HTMLParser):
    """The visible text of a DOM, element by element, plus any <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.scripts = 0
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "title"):
            self._skip += 1
        if tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.chunks.append(" ".join(data.split()))

    @property
    def text(self) -> str:
        return " | ".join(self.chunks)


def render_report(pytester: pytest.Pytester, *, crit_ok: bool) -> Path:
    write_checks(pytester, warn_ok=False, crit_ok=crit_ok)
    pytester.runpytest_subprocess("-m", "prerequisites")
    page = pytester.path / "reports" / "readiness.html"
    assert page.is_file()
    return page


def pixel(shot: Path, xy: tuple[int, int]) -> tuple[int, int, int]:
    from PIL import Image

    with Image.open(shot) as img:
        r, g, b = img.convert("RGB").getpixel(xy)  # type: ignore[misc]
        return (r, g, b)


def close(seen: tuple[int, int, int], wanted: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 6 for a, b in zip(seen, wanted, strict=True))


@pytest.mark.parametrize(
    ("crit_ok", "verdict", "colour"), [(False, "NOT READY", RED), (True, "READY WITH WARNINGS", AMBER)]
)
def test_a_browser_shows_verdict_colour_counts_and_fix(
    checks_tree: pytest.Pytester, chromium: str, crit_ok: bool, verdict: str, colour: tuple[int, int, int]
) -> None:
    page = render_report(checks_tree, crit_ok=crit_ok)
    profile = checks_tree.path / "chromium-profile"
    profile.mkdir()
    dom = browse(chromium, page, profile, "--dump-dom").stdout
    seen = _Text()
    seen.feed(dom)
    text = seen.text
    assert seen.scripts == 0, "the report must read without JavaScript"
    assert "http://" not in dom, "self-contained: nothing is fetched"
    assert "https://" not in dom
    # The verdict comes first, before any check.
    assert text.startswith(verdict + " |"), text[:200]
    assert f"Project | {checks_tree.path / 'examples' / 'phoenix-hydra'}" in text
    for engine in ("Docker |", "Podman |", "User |", "Host |"):
        assert engine in text
    # Counts per outcome, as a person reads them: the number, then its label.
    fails = 0 if crit_ok else 1
    assert f"{fails} | FAIL" in text
    assert "1 | WARN" in text
    assert "0 | WAIVED" in text
    if not crit_ok:
        # The failed check comes first, with its id, severity, message and the exact fix line.
        first = text.index("FAIL | A blocker.")
        assert first < text.index("WARN | Something worth a warning.")
        assert "A blocker. | critical | podman.crit | crun cannot start containers here" in text
        project = checks_tree.path / "examples" / "phoenix-hydra"
        assert f"Fix: | podshift validate {project} --fix-issues --check podman.crit" in text
    # The colour a person sees: the verdict banner, painted by the browser.
    shot = profile / "shot.png"
    browse(chromium, page, profile, "--window-size=1000,700", f"--screenshot={shot}")
    assert close(pixel(shot, (8, 8)), colour), pixel(shot, (8, 8))
    assert close(pixel(shot, (990, 40)), colour)


def test_the_report_prints(checks_tree: pytest.Pytester, chromium: str) -> None:
    page = render_report(checks_tree, crit_ok=False)
    profile = checks_tree.path / "chromium-profile"
    profile.mkdir()
    pdf = profile / "report.pdf"
    browse(chromium, page, profile, "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert data.count(b"/Type /Page") - data.count(b"/Type /Pages") >= 1


def test_pytest_html_table_shows_podshifts_outcomes(checks_tree: pytest.Pytester, chromium: str) -> None:
    """pytest-html keeps working beside podshift's report, and its rows say WARN/INFO, not "Passed"."""
    write_checks(checks_tree, warn_ok=False, crit_ok=True)
    checks_tree.runpytest_subprocess("-m", "prerequisites", "--html=reports/table.html", "--self-contained-html")
    profile = checks_tree.path / "chromium-profile"
    profile.mkdir()
    # pytest-html builds its table with JavaScript: give it time to run.
    dom = browse(
        chromium, checks_tree.path / "reports/table.html", profile, "--virtual-time-budget=5000", "--dump-dom"
    ).stdout
    seen = _Text()
    seen.feed(dom)
    rows = seen.text
    assert "Warn | test_checks.py::test_warn | docker | docker.warn | warning | WARN" in rows
    assert "Info | test_checks.py::test_info" in rows
    assert "Passed | test_checks.py::test_ok" in rows
    assert "Verdict: READY WITH WARNINGS" in rows


def test_pytest_html_may_not_overwrite_podshifts_report(checks_tree: pytest.Pytester) -> None:
    write_checks(checks_tree, warn_ok=True, crit_ok=True)
    result = checks_tree.runpytest("--html=reports/readiness.html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is where podshift writes its own readiness report*"])


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_post_migration_run_does_not_overwrite_the_readiness_report(
    checks_tree: pytest.Pytester, xdist: list[str]
) -> None:
    checks_tree.makepyfile(
        test_after='''
import pytest

@pytest.mark.post_migration
@pytest.mark.category("network")
def test_reachable():
    """The service answers after the move."""
'''
    )
    result = checks_tree.runpytest_subprocess("-m", "post_migration", *xdist)
    assert result.ret == 0
    reports = checks_tree.path / "reports"
    assert (reports / "post-migration.html").is_file()
    assert not (reports / "readiness.html").exists()
