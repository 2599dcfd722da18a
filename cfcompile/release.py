"""cfcompile's release, written once: the package, its metadata (pyproject.toml reads this
attribute), provenance records and generated Snakefiles all say the same."""

__version__ = "0.1.0"
