"""The bundled Snakemake profiles, shipped as ``cfcompile.cluster_profiles``: ``local/`` (a
laptop or one node) and ``slurm/`` (Snakemake's slurm executor). From a checkout, run
``snakemake --profile cluster_profiles/slurm``; ``--profile local|slurm`` names these folders
wherever cfcompile is installed. Copy one and edit it for your site."""

from importlib import resources

BUNDLED = ("local", "slurm")


def folder(name: str) -> str:
    """The folder of the bundled profile ``name`` (``local`` or ``slurm``)."""
    return str(resources.files(__name__).joinpath(name))
