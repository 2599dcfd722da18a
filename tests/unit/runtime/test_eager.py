"""The eager engines (``runtime.eager``): a stage run now, in this process."""

from __future__ import annotations

import cfcompile as cf
import cfcompile.job
from cfcompile.runtime import eager


def test_the_eager_engines_count_and_the_dry_one_writes_nothing(tmp_path):
    @cf.stage(outputs=["v"], cachers=[cf.caching.JsonCacher])
    def v(record):
        return 1

    for engine_type, writes in ((eager.DryEagerEngine, False), (eager.EagerEngine, True)):
        engine = engine_type()
        m = cf.ArtifactManager("e", cache_path=str(tmp_path / "c"), engine=engine, folders=False)
        v(cf.Record(m, cf.ExperimentParameters(name="a")))
        assert engine.ran == [("v", "a")] and engine.cached == []
        assert bool(list((tmp_path / "c").glob("*.json"))) is writes
    again = eager.EagerEngine()
    m = cf.ArtifactManager("e", cache_path=str(tmp_path / "c"), engine=again, folders=False)
    v(cf.Record(m, cf.ExperimentParameters(name="a")))
    assert again.cached == [("v", "a")]
