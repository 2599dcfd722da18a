"""The parameter class the core tests of reads, watches and reuse share: two plain fields and
a nested dataclass (so paths like ``data.path`` exist), and a one-output stage to key."""

from __future__ import annotations

from dataclasses import dataclass, field

import cfcompile as cf


@dataclass
class Data:
    path: str = "x.csv"
    rows: int = 10


@dataclass
class P(cf.ExperimentParameters):
    seed: int = 1
    lr: float = 0.1
    data: Data = field(default_factory=Data)


def stage_spec(**kw):
    """The spec of a stage ``prep`` with one output and the given ``@stage`` keywords."""

    @cf.stage(outputs=["x"], **kw)
    def prep(record):
        return 1

    return prep.spec
