"""``python -m logagg.backup``: the same as ``python -m logagg backup``."""

import sys

from .cli import main

sys.exit(main())
