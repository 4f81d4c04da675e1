"""failed-build: what in a project's Dockerfiles Podman's builder (buildah 1.28 in Podman 4.3) does not take.

Dockerfiles are read with ``dockerfile-parse`` (a real parser, not a
home-made one).  Found per service:

- heredocs (``RUN <<EOF``): buildah 1.28 stops with "Unknown instruction" (buildah#5474, podman#25421);
- ``RUN --mount`` types/options outside what buildah 1.28 documents (podman#27188);
- ``COPY --chmod`` with a symbolic mode: "Error parsing chmod u+x" (buildah#6066); rewritten to octal;
- ``# syntax=`` lines: buildah ignores the BuildKit frontend they ask for;
- short-name base images: "short-name ... did not resolve to an alias and no unqualified-search
  registries are defined" (podman-compose#725); carried from Docker's store, else qualified.
"""

from __future__ import annotations

import io
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from dockerfile_parse import DockerfileParser

from podshift.compose.model import ComposeProject

#: What ``RUN --mount`` takes in buildah 1.28 (its documented types and options).
MOUNT_TYPES = {"bind", "cache", "tmpfs", "secret"}
MOUNT_OPTIONS = {
    "type", "target", "dst", "destination", "source", "src", "from", "ro", "readonly", "rw", "readwrite",
    "id", "sharing", "mode", "uid", "gid", "bind-propagation", "relabel", "tmpfs-size", "tmpfs-mode", "z", "Z",
}  # fmt: skip
_HEREDOC = re.compile(r"<<-?\s*['\"]?[A-Za-z_][A-Za-z0-9_]*")
_SYMBOLIC = re.compile(r"([ugoa]*)([-+=])([rwxXst]*)")


@dataclass(frozen=True)
class BuildFinding:
    """One thing in a Dockerfile that Podman's builder refuses (or ignores)."""

    service: str
    dockerfile: Path
    line: int  # 1-based
    kind: str  # heredoc, run-mount, chmod-symbolic, syntax, short-name
    text: str
    advice: str

    def describe(self) -> str:
        return f"service {self.service}: {self.dockerfile}:{self.line}: {self.text.strip()}: {self.advice}"


def dockerfile_of(context: Path, dockerfile: str | None) -> Path:
    """The service's Dockerfile (``build.dockerfile``, else Dockerfile, else Containerfile)."""
    if dockerfile:
        path = Path(dockerfile)
        return path if path.is_absolute() else context / path
    default = context / "Dockerfile"
    return default if default.exists() or not (context / "Containerfile").exists() else context / "Containerfile"


def dockerfiles(project: ComposeProject) -> dict[str, Path]:
    """Service -> its Dockerfile, for the services that build."""
    return {
        name: dockerfile_of(svc.build_context, svc.dockerfile)
        for name, svc in sorted(project.services.items())
        if svc.build_context is not None
    }


def parse(path: Path) -> DockerfileParser:
    return DockerfileParser(fileobj=io.StringIO(path.read_text()))


#: buildah names a working container ``<image>-working-container``, then ``...-working-container-N``
#: while that name is taken (an earlier failed build's container still there).
_WORKING_CONTAINER = re.compile(r"-working-container(-[0-9]+)?$")


def is_working_container(name: str) -> bool:
    """Whether *name* is one buildah gives a build's working container."""
    return _WORKING_CONTAINER.search(name) is not None


def is_short_name(image: str) -> bool:
    """``alpine:3`` is short; ``docker.io/library/alpine:3``, ``localhost/x``, ``reg:5000/x`` are not."""
    first, sep, _ = image.partition("/")
    if not sep:
        return True
    return not ("." in first or ":" in first or first == "localhost")


def base_images(path: Path) -> list[tuple[int, str]]:
    """(line, image) of every FROM that names an image (not an earlier stage, not ``scratch``)."""
    stages: set[str] = set()
    found = []
    for entry in parse(path).structure:
        if entry["instruction"] != "FROM":
            continue
        words = [w for w in entry["value"].split() if not w.startswith("--")]
        if not words:
            continue
        image = words[0]
        if image not in stages and image != "scratch":
            found.append((int(entry["startline"]) + 1, image))
        if len(words) >= 3 and words[1].lower() == "as":
            stages.add(words[2])
    return found


def apply_symbolic(spec: str, mode: int, *, is_dir: bool = False) -> int | None:
    """*mode* changed as ``chmod SPEC`` would (umask ignored); None when *spec* is not a symbolic mode."""
    result = mode & 0o7777
    for clause in spec.split(","):
        m = _SYMBOLIC.fullmatch(clause)
        if m is None:
            return None
        who, op, perms = m.groups()
        who = who or "a"
        classes = {"u": 6, "g": 3, "o": 0}
        targets = [c for c in "ugo" if c in who or "a" in who]
        bits = 0
        for c in targets:
            shift = classes[c]
            for p in perms:
                if p == "r":
                    bits |= 4 << shift
                elif p == "w":
                    bits |= 2 << shift
                elif p == "x" or (p == "X" and (is_dir or result & 0o111)):
                    bits |= 1 << shift
                elif p == "s" and c in "ug":
                    bits |= stat.S_ISUID if c == "u" else stat.S_ISGID
            if "t" in perms:
                bits |= stat.S_ISVTX
        if op == "+":
            result |= bits
        elif op == "-":
            result &= ~bits
        else:
            clear = 0
            for c in targets:
                clear |= 7 << classes[c]
            result = (result & ~clear) | bits
    return result


def octal_chmod(path: Path, value: str) -> tuple[str | None, str]:
    """For ``COPY --chmod=SYMBOLIC src... dest`` (*value* without the instruction): the octal mode, or why not."""
    words = value.split()
    spec = next((w.split("=", 1)[1] for w in words if w.startswith("--chmod=")), "")
    sources = [w for w in words if not w.startswith("--")][:-1]
    if not spec or re.fullmatch(r"[0-7]{3,4}", spec):
        return None, ""
    modes = set()
    for src in sources:
        candidate = path.parent / src
        if not candidate.exists() or any(ch in src for ch in "*?["):
            return None, f"source {src} cannot be read in the build context: choose the octal mode by hand"
        st = candidate.stat()
        new = apply_symbolic(spec, st.st_mode, is_dir=stat.S_ISDIR(st.st_mode))
        if new is None:
            return None, f"{spec} is not a mode"
        modes.add(new)
    if len(modes) != 1:
        return None, "the sources would get different modes: choose one octal mode by hand"
    return f"{modes.pop():o}".rjust(3, "0"), ""


def rewrite_chmod(path: Path) -> bytes:
    """The Dockerfile with every symbolic ``COPY --chmod`` that can be resolved rewritten to octal."""
    lines = path.read_bytes().decode().splitlines(keepends=True)
    for entry in parse(path).structure:
        if entry["instruction"] not in ("COPY", "ADD") or "--chmod=" not in entry["value"]:
            continue
        octal, _why = octal_chmod(path, entry["value"])
        if octal is None:
            continue
        start = int(entry["startline"])
        lines[start] = re.sub(r"--chmod=\S+", f"--chmod={octal}", lines[start], count=1)
    return "".join(lines).encode()


def scan(service: str, path: Path) -> list[BuildFinding]:
    """Everything in *path* that Podman 4.3's builder refuses or ignores."""
    found = []
    for entry in parse(path).structure:
        line, instruction, value = int(entry["startline"]) + 1, entry["instruction"], entry["value"]
        text = entry["content"].splitlines()[0] if entry["content"] else value

        def add(kind: str, advice: str, *, line: int = line, text: str = text) -> None:
            found.append(BuildFinding(service, path, line, kind, text, advice))

        if instruction == "COMMENT" and value.replace(" ", "").lower().startswith("syntax="):
            add("syntax", "buildah ignores the BuildKit frontend this asks for; features it brings may fail")
        elif instruction in ("RUN", "COPY", "ADD") and _HEREDOC.search(value):
            add("heredoc", 'buildah 1.28 stops with "Unknown instruction" on heredocs: move the script into a file')
        if instruction == "RUN":
            for m in re.finditer(r"--mount=(\S+)", value):
                opts = {kv.partition("=")[0]: kv.partition("=")[2] for kv in m.group(1).split(",")}
                odd = sorted(k for k in opts if k not in MOUNT_OPTIONS)
                kind = opts.get("type", "bind")
                if kind not in MOUNT_TYPES or odd:
                    what = f"type={kind}" if kind not in MOUNT_TYPES else f"option(s) {', '.join(odd)}"
                    add("run-mount", f"{what} not taken by Podman 4.3's builder (buildah 1.28)")
        if instruction in ("COPY", "ADD") and "--chmod=" in value:
            octal, why = octal_chmod(path, value)
            if octal is not None:
                add("chmod-symbolic", f'buildah says "Error parsing chmod": use --chmod={octal}')
            elif why:
                add("chmod-symbolic", f'buildah says "Error parsing chmod": {why}')
    for line, image in base_images(path):
        if is_short_name(image):
            add_text = f"FROM {image}"
            found.append(
                BuildFinding(
                    service, path, line, "short-name", add_text,
                    "Podman refuses short names without unqualified-search registries: carry it from Docker "
                    f"(`docker save {image} | podman load`) or qualify it (docker.io/library/{image})",
                )
            )  # fmt: skip
    return found


def scan_project(project: ComposeProject) -> list[BuildFinding]:
    return [f for service, path in dockerfiles(project).items() if path.is_file() for f in scan(service, path)]


def qualified(image: str) -> str:
    """The fully qualified name Docker would use for a short name (``alpine`` -> ``docker.io/library/alpine``)."""
    return f"docker.io/{image}" if "/" in image else f"docker.io/library/{image}"


def stages(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """(base image, [(INSTRUCTION, value), ...]) of every stage FROM an image (not an earlier stage, not scratch)."""
    found: list[tuple[str, list[tuple[str, str]]]] = []
    names: set[str] = set()
    current: list[tuple[str, str]] | None = None
    for entry in parse(path).structure:
        instruction, value = str(entry["instruction"]), str(entry["value"])
        if instruction == "FROM":
            words = [w for w in value.split() if not w.startswith("--")]
            image = words[0] if words else "scratch"
            current = None if image in names or image == "scratch" else []
            if current is not None:
                found.append((image, current))
            if len(words) >= 3 and words[1].lower() == "as":
                names.add(words[2])
        elif current is not None and instruction not in ("ARG", "COMMENT"):
            current.append((instruction, value))
    return found


_NOP = "/bin/sh -c #(nop) "


def layer_from(created_by: str, instruction: str, value: str) -> bool:
    """Whether a history entry (buildah's ``CreatedBy``) is what *instruction* *value* commits.

    buildah writes ``/bin/sh -c CMD`` for a shell-form RUN (continuations joined as
    dockerfile-parse joins them) and ``/bin/sh -c #(nop) INSTRUCTION ...`` for the others.
    """
    if instruction == "RUN":
        if created_by.startswith(_NOP):
            return False
        command = " ".join(w for w in value.split(" ") if not w.startswith("--")) if value.startswith("--") else value
        return value.lstrip().startswith("[") or created_by.endswith(command.strip())
    return created_by.startswith(f"{_NOP}{instruction} ")


def built_from(history: list[str], base_history: list[str], instructions: list[tuple[str, str]]) -> bool:
    """Whether an image (its history's ``CreatedBy``, newest first) is an intermediate of a build of
    *instructions* on the base (*base_history*): the base's history under layers that follow the
    Dockerfile's first instructions, one each.  This is how a failed build's leftovers (a dangling layer
    image, a buildah working container on it) are told to be this project's: podman-compose labels nothing.
    """
    own = len(history) - len(base_history)
    if own <= 0 or own > len(instructions) or history[own:] != base_history:
        return False
    return all(layer_from(c, *instructions[i]) for i, c in enumerate(reversed(history[:own])))
