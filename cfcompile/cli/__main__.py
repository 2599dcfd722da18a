"""``python -m cfcompile.cli``: the same as the ``cfcompile`` command."""

import sys

from cfcompile.cli.main import main

sys.exit(main())
