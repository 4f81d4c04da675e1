"""Qualify short image names in the project's compose files (project scope).

ruamel.yaml's round-trip mode edits the value in place and keeps comments,
order and quoting; the change is shown as a diff before it is made.
"""

from __future__ import annotations

import io
from pathlib import Path

from ruamel.yaml import YAML

from podshift.probes import podman_cli, unqualified_search_registries
from podshift.remediation import FileChange, Fix, FixContext, FixRefused, Plan


def qualified(image: str) -> str:
    """``redis:7`` -> ``docker.io/library/redis:7``; ``bitnami/redis`` -> ``docker.io/bitnami/redis``."""
    return f"docker.io/library/{image}" if "/" not in image else f"docker.io/{image}"


def is_qualified(image: str) -> bool:
    first = image.split("/", 1)[0]
    return "/" in image and ("." in first or ":" in first or first == "localhost")


class QualifyImages(Fix):
    name = "qualify-images"
    scope = "project"

    def plan(self, ctx: FixContext) -> Plan:
        if unqualified_search_registries():
            return Plan(self.name, self.scope, "nothing to do (search registries are configured)")
        wanted = {
            s.name: s.image
            for s in ctx.project.services.values()
            if s.image
            and s.build_context is None
            and not is_qualified(s.image)
            and podman_cli("image", "exists", s.image, user=ctx.podman_user).rc != 0
        }
        changes = []
        for path in ctx.project.compose_files:
            new = self._rewrite(path, wanted)
            if new is not None:
                changes.append(FileChange(path, new, path.stat().st_mode & 0o7777))
        if wanted and not changes:
            raise FixRefused(
                self.name,
                "the image names are not written literally in the compose files "
                "(interpolated or inherited): qualify them where they are set",
            )
        names = ", ".join(f"{s}: {qualified(i)}" for s, i in sorted(wanted.items()))
        return Plan(self.name, self.scope, f"qualify image names ({names})", files=tuple(changes))

    def _rewrite(self, path: Path, wanted: dict[str, str]) -> bytes | None:
        yaml = YAML()
        yaml.preserve_quotes = True
        doc = yaml.load(path.read_text())
        services = (doc or {}).get("services") or {}
        touched = False
        for name, image in wanted.items():
            spec = services.get(name)
            if spec is not None and spec.get("image") == image:
                spec["image"] = qualified(image)
                touched = True
        if not touched:
            return None
        out = io.StringIO()
        yaml.dump(doc, out)
        return out.getvalue().encode()
