"""pytest plugin (``-p cfcompat_strict``): ``import curifactory`` is cfcompile from the start,
before curifactory's conftest imports it. Nothing is stubbed: a name cfcompile lacks fails."""

import cfcompile.compat

cfcompile.compat.install()
