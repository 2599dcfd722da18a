"""cfcompile's release, written once: the package, its metadata (pyproject.toml reads this
attribute), provenance records and generated Snakefiles all say the same."""

__version__ = "0.1.0"


def as_program() -> None:
    """When ``python -m cfcompile.X`` starts, the working directory Python put first on
    ``sys.path`` comes off before anything else is imported: a project's ``random.py`` must
    not shadow the standard library's (``tempfile`` imports it on the way to the first line
    of the CLI). Only while Python is still locating a ``cfcompile`` module to run as
    ``__main__`` (``sys.argv[0]`` is then ``-m``); a plain ``import cfcompile`` in a notebook
    or a test leaves ``sys.path`` alone. ``project.imports.use_project_root`` applies the
    rest of the rule."""
    import os
    import sys

    if sys.argv[:1] != ["-m"] or sys.flags.safe_path or getattr(sys, "_cfcompile_dropped", 0):
        return
    argv = list(getattr(sys, "orig_argv", []))
    flag = next((i for i, a in enumerate(argv) if a.startswith("-m")), None)
    if flag is None:
        return
    module = argv[flag][2:] or (argv[flag + 1] if flag + 1 < len(argv) else "")
    if module.split(".")[0] != "cfcompile":
        return
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
        sys._cfcompile_dropped = True  # type: ignore[attr-defined]
