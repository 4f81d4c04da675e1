"""Moving named volumes' data between engines (see :mod:`podshift.volumes.transfer`)."""
