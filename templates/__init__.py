"""The templates cfcompile renders, shipped as ``cfcompile.templates`` (read with
``importlib.resources``): ``Snakefile.j2`` (the compiled workflow), ``report.html.j2`` (the
``--report`` page) and ``report_index.html.j2`` (``reports/index.html``). They sit at the top of
the repository so that they can be read and reviewed without opening the package."""

from importlib import resources


def text(name: str) -> str:
    """The template ``name`` of this folder, as text (its renderer builds its own jinja2
    environment: the report escapes every value, the Snakefile writes Python literals)."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
