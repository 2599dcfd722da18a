"""Execution backends that read the StageGraph (Snakemake, submitit)."""
