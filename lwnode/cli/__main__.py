"""``python -m lwnode.cli``: the same as the ``lwnode`` command."""

import sys

from lwnode.cli import main

sys.exit(main())
