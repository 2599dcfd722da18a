"""The eager runner: ``run(param_sets, manager)`` in this process (the reference semantics)."""

from __future__ import annotations

from dataclasses import dataclass

from cfcompile.project import Project


@dataclass
class EagerResult:
    ran: list
    cached: list
    cache_path: str
    manager: object


def eager_run(
    project: Project,
    experiment: str,
    param_names: list[str],
    names: list[str] | None = None,
    indices: list[str] | None = None,
    cache_path: str | None = None,
    prefix: str | None = None,
    overwrite: bool = False,
) -> EagerResult:
    from cfcompile.provenance import run_info
    from cfcompile.record import ArtifactManager

    module, sets = project.select(experiment, param_names, names, indices)
    cache = project.cache_path(cache_path)
    manager = ArtifactManager(
        experiment_name=experiment,
        cache_path=cache,
        prefix=prefix,
        overwrite=overwrite,
        run_info=run_info(str(project.root), experiment),
    )
    module.run(sets, manager)
    engine = manager.engine
    return EagerResult(engine.ran, engine.cached, cache, manager)
