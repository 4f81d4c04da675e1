"""Recovery steps (``podshift recover SCENARIO``), one module per scenario."""
