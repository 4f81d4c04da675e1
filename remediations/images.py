"""Qualify short image names in the project's compose files (project scope).

Only the image lines change: ruamel.yaml's round-trip loader says where each
service's ``image`` value sits (line and column), and the fix replaces just
that scalar in the file's own text — indentation, line width, comments,
quoting and line endings stay byte for byte.  (Dumping the document again
would re-indent lists and re-wrap long strings.)  The change is shown as a
diff before it is made.
"""

from __future__ import annotations

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
        return rewrite_images(path.read_bytes(), wanted)


def rewrite_images(data: bytes, wanted: dict[str, str]) -> bytes | None:
    """*data* with each ``services.<name>.image`` in *wanted* qualified, touching nothing else (None: no change)."""
    text = data.decode("utf-8")
    doc = YAML().load(text)
    services = doc.get("services") if hasattr(doc, "get") else None
    if not hasattr(services, "get"):
        return None
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, str, str]] = []  # (line, column, old scalar text, new scalar text)
    for name, image in wanted.items():
        spec = services.get(name)
        if not hasattr(spec, "get") or spec.get("image") != image or not hasattr(spec, "lc"):
            continue
        line, col = spec.lc.value("image")
        quote = lines[line][col] if lines[line][col] in "'\"" else ""
        old = f"{quote}{image}{quote}"
        if lines[line][col : col + len(old)] != old:
            continue  # written with escapes or across lines: not a literal this fix can edit in place
        edits.append((line, col, old, f"{quote}{qualified(image)}{quote}"))
    if not edits:
        return None
    # Right to left within a line, so earlier columns stay valid (flow mappings hold several).
    for line, col, old, new in sorted(edits, reverse=True):
        lines[line] = lines[line][:col] + new + lines[line][col + len(old) :]
    return "".join(lines).encode("utf-8")
