"""Recovery: what ``podshift recover SCENARIO`` and ``podshift diagnose`` look at and act on.

``diagnosis`` gathers facts about a (possibly half-migrated) stack without
changing anything; ``ports`` finds who holds a published port (from /proc);
``session`` wires a recovery scenario into the pytest session (check
selection, the seed's ``migration-recovery.log``).
"""
