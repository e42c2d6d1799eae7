"""``python -m lwnode``: the same command line as the ``lwnode`` script."""

from lwnode.cli import main

raise SystemExit(main())
