"""``podshift drill``: rehearse backup, migrate and rollback on a scratch clone of the project."""

from __future__ import annotations

from podshift import drill_command
from podshift.cli import Verb

VERB = Verb(
    name="drill",
    help="rehearse backup, migrate and rollback --keep-data on a scratch clone: downtime, every byte back",
    example="cd ~/my-app && podshift drill --max-downtime 30",
    add_arguments=drill_command.add_arguments,
    run=drill_command.run,
    order=70,
)
