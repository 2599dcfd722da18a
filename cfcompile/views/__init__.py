"""Views of a compiled experiment: dry run, DAG picture, HTML report, status, results table.

A view reads the StageGraph, the plan and the cache; it asks backends for job states only
through their ``states(workdir)``. None starts Snakemake.
"""
