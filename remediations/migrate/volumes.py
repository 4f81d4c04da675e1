"""Steps 3 and 6: each named volume copied into a Podman volume of the same name, in two passes.

The bulk goes while Docker still serves (``volumes-bulk-copy``); after Docker
stops, ``volumes-final-sync`` sends only what changed since and verifies the
copy entry by entry against the stopped Docker volume.  The source listing
the second pass compares with, and the verified manifest of each volume at
the stop (for the post_migration checks), are kept in ``<project>/.podshift/``.
"""

from __future__ import annotations

import json

from podshift.backup.tarscan import Entry
from podshift.errors import PodshiftError
from podshift.remediation import Plan, VolumeMove
from podshift.runtimes.base import PROJECT_LABEL
from podshift.steps import Step, StepContext, StepFailed
from podshift.volumes.transfer import (
    Baseline,
    TransferError,
    VolumeRef,
    access,
    copy_volume,
    transfer_volume,
    verified_files,
    verify_copy,
)

from .common import (
    MIGRATED_LABEL,
    RERUN,
    docker,
    podman,
    read_state,
    remove_state,
    state_file,
    volume_names,
    write_state,
)


def _moves(ctx: StepContext) -> tuple[VolumeMove, ...]:
    sizes = ctx.docker().volume_sizes()
    target = ctx.podman().label
    return tuple(VolumeMove(v, sizes.get(v, 0), f"docker:{v}", f"{target}:{v}") for v in volume_names(ctx))


def _targets_exist(ctx: StepContext) -> bool:
    runtime = ctx.podman()
    return all(runtime.volume(v) is not None for v in volume_names(ctx))


class VolumesBulkCopy(Step):
    name = "volumes-bulk-copy"
    title = "Create the Podman volumes and copy the bulk of the data while Docker still serves"
    action = "migrate"
    order = 30

    def plan(self, ctx: StepContext) -> Plan:
        return Plan(self.name, "project", self.title, volumes=_moves(ctx))

    def done(self, ctx: StepContext) -> bool:
        return super().done(ctx) and _targets_exist(ctx)

    def run(self, ctx: StepContext) -> str | None:
        source_rt, target_rt = docker(ctx, self.name), podman(ctx, self.name)
        total = 0
        for name in volume_names(ctx):
            existing = target_rt.volume(name)
            if existing is not None and MIGRATED_LABEL not in existing.labels:
                raise StepFailed(
                    self.name,
                    f"{target_rt.label} already has a volume {name} that podshift did not create: "
                    "move its data away and remove it (`podman volume rm`), then run it again",
                )
            if existing is None:
                created = list(ctx.recorded("created", []))
                ctx.record("created", sorted({*created, name}))  # journaled before it exists
                labels = {PROJECT_LABEL: ctx.project.name, MIGRATED_LABEL: "docker"}
                target_rt.volume_create(name, labels)
            # What an earlier pass (or an earlier migrate -> rollback cycle) left must not steer this one:
            # the final pass trusts the baseline and the pre-verified digests written below, and only those.
            for stale in (f"baseline-{name}", f"trusted-{name}"):
                remove_state(ctx, state_file(stale))
            try:
                result = copy_volume(
                    VolumeRef(source_rt, name), VolumeRef(target_rt, name), live=True, progress=ctx.progress
                )
            except (TransferError, PodshiftError, OSError) as e:
                raise StepFailed(self.name, f"copying volume {name}: {e}", RERUN) from e
            if result.baseline is not None:
                write_state(ctx, state_file(f"baseline-{name}"), result.baseline.to_json())
            trusted = self._pre_verify(ctx, VolumeRef(source_rt, name), VolumeRef(target_rt, name))
            write_state(ctx, state_file(f"trusted-{name}"), json.dumps(trusted).encode())
            ctx.record(name, {"method": result.method, "bytes": result.bytes, "seconds": round(result.seconds, 3)})
            ctx.log.info("bulk copy of %s: %s", name, result)
            total += result.bytes
        return f"{len(volume_names(ctx))} volumes, {total / 2**20:.1f} MiB copied while Docker served"

    @staticmethod
    def _pre_verify(ctx: StepContext, source: VolumeRef, target: VolumeRef) -> dict[str, str]:
        """Hash both sides now, while Docker serves: files found identical need only a metadata check later.

        Only where the final verification can use it (both sides host-readable).
        """
        if access(source).method != "host" or access(target).method != "host":
            return {}
        verification = verify_copy(source, target)
        trusted = verified_files(verification)
        ctx.log.info("pre-verified %s: %d files identical while Docker served", target, len(trusted))
        return trusted


class VolumesFinalSync(Step):
    name = "volumes-final-sync"
    title = "Copy what changed since the bulk copy, then verify every volume entry by entry against Docker's"
    action = "migrate"
    order = 60
    after = ("stop-docker", "volumes-bulk-copy")

    def plan(self, ctx: StepContext) -> Plan:
        return Plan(
            self.name,
            "project",
            "send what changed in each volume since the bulk copy (by size, mtime, ctime, mode, owner), "
            "then compare content sha256, size, mode, owner, link targets, hardlinks and xattrs on both sides",
            volumes=_moves(ctx),
        )

    def done(self, ctx: StepContext) -> bool:
        return super().done(ctx) and _targets_exist(ctx)

    def run(self, ctx: StepContext) -> str | None:
        source_rt, target_rt = docker(ctx, self.name), podman(ctx, self.name)
        sent = 0
        for name in volume_names(ctx):
            raw = read_state(ctx, state_file(f"baseline-{name}"))
            baseline = Baseline.from_json(raw) if raw is not None else None
            raw_trusted = read_state(ctx, state_file(f"trusted-{name}")) if baseline is not None else None
            trusted = json.loads(raw_trusted) if raw_trusted else None
            if target_rt.volume(name) is None:
                raise StepFailed(
                    self.name, f"the Podman volume {name} is gone", "remove the migrate journal and start over"
                )
            try:
                result, verification = transfer_volume(
                    VolumeRef(source_rt, name),
                    VolumeRef(target_rt, name),
                    baseline=baseline,
                    trusted=trusted,
                    progress=ctx.progress,
                )
            except TransferError as e:
                raise StepFailed(self.name, str(e), "podshift recover volume-issues") from e
            except (PodshiftError, OSError) as e:
                raise StepFailed(self.name, f"copying volume {name}: {e}", RERUN) from e
            source = verification.source
            manifest = state_file(f"volume-{name}")
            write_state(ctx, manifest, json.dumps([e.__dict__ for e in source.entries]).encode())
            ctx.record(
                name,
                {
                    "digest": source.digest(),
                    "root": list(source.root) if source.root else None,
                    "entries": len(source.entries),
                    "bytes": source.size,
                    "manifest": manifest,
                    "sent_entries": result.sent_entries,
                    "removed_entries": result.removed_entries,
                    "method": result.method,
                    "notes": verification.notes,
                },
            )
            sent += result.sent_entries
        return f"{len(volume_names(ctx))} volumes verified ({sent} entries sent after the stop)"


def recorded_entries(raw: bytes) -> list[Entry]:
    """The manifest ``volumes-final-sync`` kept of a Docker volume at the stop."""
    return [Entry(**e) for e in json.loads(raw)]
