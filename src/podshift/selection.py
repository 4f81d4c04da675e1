"""Choosing checks by their stable id: ``--check ID`` and ``--skip-check ID``.

Deselected checks go through ``pytest_deselected`` like pytest's own ``-k``
and ``-m``, so the readiness reporter lists every check that did not run,
whatever deselected it.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest

from podshift.markers import check_meta


def _matches(check_id: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(check_id, p) for p in patterns)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted: list[str] = config.getoption("podshift_checks") or []
    unwanted: list[str] = config.getoption("podshift_skip_checks") or []
    if not wanted and not unwanted:
        return
    known = {check_meta(i).check_id for i in items if check_meta(i).is_check}
    unknown = [p for p in (*wanted, *unwanted) if not any(fnmatchcase(k, p) for k in known)]
    if unknown:
        raise pytest.UsageError(
            f"podshift: no check has the id {', '.join(map(repr, unknown))} "
            f"(known ids: {', '.join(sorted(known)) or 'none collected'})"
        )
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        meta = check_meta(item)
        chosen = not meta.is_check or (
            (not wanted or _matches(meta.check_id, wanted)) and not _matches(meta.check_id, unwanted)
        )
        (keep if chosen else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
