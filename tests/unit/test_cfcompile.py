"""``import cfcompile as cf`` (``cfcompile/__init__.py``): the eager engines it registers with
``stages``."""

from __future__ import annotations

import cfcompile as cf
from cfcompile import stages


def test_a_manager_gets_the_registered_engines():
    eager = cf.ArtifactManager("t", cache_path="/tmp/x-cache", folders=False)
    dry = cf.ArtifactManager("t", cache_path="/tmp/x-cache", dry=True, folders=False)
    assert type(eager.engine).__name__ == "EagerEngine"
    assert type(dry.engine).__name__ == "DryEagerEngine"
    assert isinstance(stages.default_engine(dry=True), type(dry.engine))
