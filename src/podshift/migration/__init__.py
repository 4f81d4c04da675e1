"""The pieces ``podshift migrate`` is made of (the steps in ``remediations/migrate/`` call them)."""
