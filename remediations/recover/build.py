"""failed-build: clean this project's failed-build leftovers, carry or qualify short-name base images,
rewrite symbolic ``COPY --chmod`` to octal, then build the services one at a time.

Heredocs, unsupported ``RUN --mount`` options and ``# syntax=`` lines are
named by the checks (with the line) but not rewritten: there is no
faithful mechanical rewrite for them.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from podshift.atomic import write_file_atomically
from podshift.commands import run
from podshift.compose.provider import provider_for
from podshift.recovery.build import (
    base_images,
    built_from,
    dockerfiles,
    is_short_name,
    is_working_container,
    qualified,
    rewrite_chmod,
    scan,
    stages,
)
from podshift.recovery.engines import compose_argv
from podshift.recovery.engines import podman as podman_cli
from podshift.remediation import CommandStep, FileChange, Plan
from podshift.runtimes import DockerRuntime, PodmanRuntime
from podshift.steps import Step, StepContext, StepFailed

SCENARIO = "failed-build"
LOG_LINES = 12


def _short_bases(ctx: StepContext) -> dict[str, list[str]]:
    """Short-name base images Podman does not have -> the Dockerfiles that use them."""
    podman = ctx.podman()
    missing: dict[str, list[str]] = {}
    for path in dockerfiles(ctx.project).values():
        if not path.is_file():
            continue
        for _line, image in base_images(path):
            if is_short_name(image) and podman.image(image) is None:
                missing.setdefault(image, []).append(str(path))
    return missing


def _chmod_changes(ctx: StepContext) -> list[FileChange]:
    changes = []
    for path in dockerfiles(ctx.project).values():
        if path.is_file():
            change = FileChange(path, rewrite_chmod(path), mode=path.stat().st_mode & 0o7777)
            if change.changes_anything:
                changes.append(change)
    return changes


def _images_built(ctx: StepContext) -> bool:
    podman = ctx.podman()
    return all(
        svc.image is None or podman.image(svc.image) is not None
        for svc in ctx.project.services.values()
        if svc.build_context is not None
    )


def _docker_has(image: str) -> bool:
    docker = DockerRuntime()
    try:
        if docker.probe_socket() is not None:
            return False
        return docker.image(image) is not None
    finally:
        docker.close()


class _BuildStep(Step):
    action = "recover"
    scenarios = (SCENARIO,)

    def done(self, ctx: StepContext) -> bool:
        return super().done(ctx) and not _short_bases(ctx) and not _chmod_changes(ctx) and _images_built(ctx)


def _histories(podman: PodmanRuntime, refs: list[str]) -> dict[str, list[str]]:
    """Image -> the ``created_by`` of its history, newest first, for those of *refs* that exist.

    One ``podman image inspect`` for all of them: a user's store can hold a hundred dangling images.
    """
    if not refs:
        return {}
    result = podman_cli(podman, "image", "inspect", "--format", "json", *refs, timeout=300)
    if not result.succeeded and len(refs) > 1:  # one vanished meanwhile: ask one by one
        return {ref: h for r in refs for ref, h in _histories(podman, [r]).items()}
    found = {}
    for ref, info in zip(refs, json.loads(result.stdout or "[]"), strict=False):
        found[ref] = [str(e.get("created_by", "")) for e in reversed(info.get("History") or [])]
    return found


def _listing(podman: PodmanRuntime, args: tuple[str, ...], notes: list[str]) -> list[dict[str, Any]]:
    """``podman ARGS`` as JSON; a few tries: in a shared store another user's ``rmi`` between podman's
    listing and its look-up fails the whole listing ("reading image ...: image not known")."""
    result = None
    for _ in range(3):
        result = podman_cli(podman, *args, timeout=120)
        if result.succeeded:
            return list(json.loads(result.stdout or "[]"))
        time.sleep(1)
    assert result is not None
    notes.append(f"could not list `podman {' '.join(args[:3])}`: {result.stderr.strip()[-200:]}")
    return []


def _build_artefacts(ctx: StepContext) -> tuple[list[str], list[str], list[str]]:
    """(working containers, dangling images) a failed build of this project's Dockerfiles left, and notes
    about leftovers podshift cannot attribute (left alone)."""
    podman = ctx.podman()
    stages_of = [st for path in dockerfiles(ctx.project).values() if path.is_file() for st in stages(path)]
    bases = _histories(podman, sorted({base for base, instructions in stages_of if instructions}))
    builds = [(bases[base], instructions) for base, instructions in stages_of if base in bases and instructions]
    notes: list[str] = []
    listed = _listing(podman, ("images", "--filter", "dangling=true", "--format", "json"), notes)
    dangling = [str(i["Id"]) for i in listed]
    out = json.dumps(_listing(podman, ("ps", "-a", "--external", "--format", "json"), notes))
    working = {
        str((c.get("Names") or [""])[0]): str(c.get("ImageID", ""))
        for c in json.loads(out or "[]")
        if is_working_container(str((c.get("Names") or [""])[0]))
    }
    histories = _histories(podman, sorted(set(dangling) | set(working.values()))) if builds else {}

    def ours(image_id: str) -> bool:
        history = histories.get(image_id)
        return history is not None and any(built_from(history, b, i) for b, i in builds)

    images = [i for i in dangling if ours(i)]
    # Images a previous build-services run of this scenario replaced, now untagged: ours by the journal.
    for image_id in ctx.journal.data("build-services").get("replaced", []):
        info = podman.image(str(image_id))
        if info is not None and not info.tags and str(image_id) not in images:
            images.append(str(image_id))
    containers = []
    for name, image_id in sorted(working.items()):
        if image_id in images or ours(image_id):
            containers.append(name)
        else:
            notes.append(f"left alone: buildah container {name} (image {image_id[:12]}) is not known to be ours")
    return containers, images, notes


class CleanBuildArtefacts(_BuildStep):
    name = "clean-build-artefacts"
    title = "Remove this project's failed-build leftovers (buildah working containers, dangling layer images)"
    order = 10

    def done(self, ctx: StepContext) -> bool:
        containers, images, _ = _build_artefacts(ctx)
        return super().done(ctx) and not containers and not images

    def plan(self, ctx: StepContext) -> Plan:
        containers, images, notes = _build_artefacts(ctx)
        commands = [CommandStep(("podman", "rm", "-f", c)) for c in containers]
        commands += [CommandStep(("podman", "rmi", i)) for i in images]
        return Plan(fix=self.name, scope="project", summary=self.title, commands=tuple(commands), notes=tuple(notes))

    def run(self, ctx: StepContext) -> str:
        podman = ctx.podman()
        containers, images, notes = _build_artefacts(ctx)
        ctx.record("removed", {"containers": containers, "images": images})
        for note in notes:
            ctx.log.info("%s", note)
        for c in containers:  # first: an image a working container uses cannot be removed
            ctx.log.info("removing buildah working container %s", c)
            podman_cli(podman, "rm", "-f", c, timeout=120)
        kept = []
        for i in images:
            # Never --force: it would remove every container of that image, anyone's.
            ctx.log.info("removing dangling image %s", i)
            result = podman_cli(podman, "rmi", i, timeout=120)
            if not result.succeeded and podman.image(i) is not None:
                kept.append(f"{i[:12]} ({result.stderr.strip()[-200:]})")
        gone = len(images) - len(kept)
        left = f"; kept {', '.join(kept)}" if kept else ""
        return f"removed {len(containers)} working container(s), {gone} dangling image(s) of this project{left}"


class CarryBaseImages(_BuildStep):
    name = "carry-base-images"
    title = "Give Podman the short-name base images: carried from Docker's store, else qualified in the Dockerfile"
    order = 20
    after = ("clean-build-artefacts",)

    def _qualify(self, image: str, paths: list[str]) -> list[FileChange]:
        changes = []
        for p in sorted(set(paths)):
            path = Path(p)
            text = path.read_text()
            new = "".join(
                line.replace(image, qualified(image), 1) if line.lstrip().upper().startswith("FROM ") else line
                for line in text.splitlines(keepends=True)
            )
            changes.append(FileChange(path, new.encode(), mode=path.stat().st_mode & 0o7777))
        return changes

    def plan(self, ctx: StepContext) -> Plan:
        commands, files = [], []
        for image, paths in _short_bases(ctx).items():
            if _docker_has(image):
                commands.append(CommandStep(("sh", "-c", f"docker save {image} | podman load")))
            else:
                files += self._qualify(image, paths)
        return Plan(fix=self.name, scope="project", summary=self.title, commands=tuple(commands), files=tuple(files))

    def run(self, ctx: StepContext) -> str:
        podman = ctx.podman()
        carried, rewritten = [], []
        for image, paths in _short_bases(ctx).items():
            if _docker_has(image):
                ctx.record("carried", [*ctx.recorded("carried", []), image])
                _carry(image, podman)
                if podman.image(image) is None:
                    raise StepFailed(self.name, f"{image} was loaded from Docker but Podman does not resolve it")
                carried.append(image)
                continue
            for change in self._qualify(image, paths):
                originals = dict(ctx.recorded("originals", {}))
                originals.setdefault(str(change.path), change.path.read_text())
                ctx.record("originals", originals)
                write_file_atomically(change.path, change.after, change.mode)
                rewritten.append(f"{change.path}: FROM {qualified(image)}")
        if not carried and not rewritten:
            return "every base image resolves under Podman: nothing to do"
        return "; ".join(
            [*(f"carried {i} from Docker's store" for i in carried), *(f"qualified {r}" for r in rewritten)]
        )


def _carry(image: str, podman: PodmanRuntime) -> None:
    """``docker save IMAGE | podman load`` (as the Podman user), streamed, never through a shell."""
    load_argv = ["podman", "load"]
    if podman.run_as is not None:
        load_argv = podman.run_as.wrap(load_argv)
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        load = subprocess.run(load_argv, stdin=save.stdout, capture_output=True, timeout=900, check=False)
    finally:
        if save.stdout is not None:
            save.stdout.close()
        save_err = save.stderr.read().decode("utf-8", "replace") if save.stderr else ""
        save.wait(60)
    if save.returncode != 0 or load.returncode != 0:
        said = (save_err or load.stderr.decode("utf-8", "replace")).strip().splitlines()[-1:] or ["no output"]
        raise StepFailed("carry-base-images", f"docker save {image} | podman load failed: {said[0]}")


class RewriteChmod(_BuildStep):
    name = "rewrite-chmod"
    title = 'Rewrite symbolic COPY --chmod modes to octal (buildah: "Error parsing chmod")'
    order = 30
    after = ("carry-base-images",)

    def plan(self, ctx: StepContext) -> Plan:
        return Plan(fix=self.name, scope="project", summary=self.title, files=tuple(_chmod_changes(ctx)))

    def run(self, ctx: StepContext) -> str:
        changes = _chmod_changes(ctx)
        for change in changes:
            originals = dict(ctx.recorded("originals", {}))
            originals.setdefault(str(change.path), change.path.read_text())
            ctx.record("originals", originals)
            ctx.log.info("rewriting %s:\n%s", change.path, change.diff())
            write_file_atomically(change.path, change.after, change.mode)
        return f"rewrote {', '.join(str(c.path) for c in changes)}" if changes else "no symbolic --chmod: nothing to do"


class BuildServices(_BuildStep):
    name = "build-services"
    title = "Build the services one at a time under Podman, naming the one that fails"
    order = 40
    after = ("rewrite-chmod",)

    def plan(self, ctx: StepContext) -> Plan:
        argv = compose_argv(ctx.project, ctx.podman())
        services = [s for s in ctx.project.start_order() if ctx.project.services[s].build_context is not None]
        return Plan(
            fix=self.name,
            scope="project",
            summary=self.title,
            commands=tuple(CommandStep((*argv, "build", s)) for s in services),
        )

    def run(self, ctx: StepContext) -> str:
        podman = ctx.podman()
        services = [s for s in ctx.project.start_order() if ctx.project.services[s].build_context is not None]
        replaced = [
            info.id
            for s in services
            if (image := ctx.project.services[s].image) and (info := podman.image(image)) is not None
        ]
        ctx.record("replaced", replaced)
        provider = provider_for(ctx.project, podman)
        try:
            for service in services:
                ctx.log.info("building %s", service)
                result = run(
                    [*provider.base_argv(), "build", service],
                    cwd=ctx.project.project_dir,
                    env=provider.env(),
                    timeout=1800,
                )
                lines = (result.stdout + result.stderr).strip().splitlines()
                for line in lines:
                    ctx.log.info("  %s", line)
                image = ctx.project.services[service].image
                if not result.succeeded or (image and podman.image(image) is None):
                    reason = _build_failure(ctx, service, lines)
                    raise StepFailed(self.name, reason, f"fix service {service}'s Dockerfile, then this again")
        finally:
            provider.close()
        return f"built {', '.join(services) or 'nothing (no service builds)'}"


def _build_failure(ctx: StepContext, service: str, lines: list[str]) -> str:
    errors = [ln for ln in lines if "error" in ln.lower()]
    first = errors[0].strip() if errors else (lines[-1] if lines else "no output")
    path = dockerfiles(ctx.project)[service]
    known = [f.describe() for f in scan(service, path)] if path.is_file() else []
    tail = "\n".join(lines[-LOG_LINES:])
    why = ("\nfound: " + "\n       ".join(known)) if known else ""
    return f"service {service} does not build: {first}{why}\nlast lines of its build log:\n{tail}"
