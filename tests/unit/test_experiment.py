"""``curifactory.experiment`` for cfcompile (``cfcompile/experiment.py``): the public names,
handed out from the runner (``cfcompile.mirror.experiment_runner``) on first use."""

from __future__ import annotations

import pytest

from cfcompile import experiment
from cfcompile.mirror import experiment_runner


def test_the_public_names_are_the_runners():
    for name in experiment.__all__:
        assert getattr(experiment, name) is getattr(experiment_runner, name), name
    with pytest.raises(AttributeError, match="has no attribute 'collect_parameter_sets'"):
        experiment.collect_parameter_sets  # noqa: B018 - curifactory's internals: not offered
