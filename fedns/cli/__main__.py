"""``python -m fedns.cli``: the same as the ``fedns`` command."""

import sys

from fedns.cli import main

sys.exit(main())
