"""``python -m podshift``: the ``podshift`` command."""

import sys

from podshift.cli import main

sys.exit(main())
