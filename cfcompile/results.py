"""``python -m cfcompile.results VERSION``: the results table of a compiled version (public:
Snakefiles compiled before the table moved into the job command still name it). The code is
``cfcompile.runtime.results_writer``."""

import sys

from cfcompile.runtime.results_writer import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
