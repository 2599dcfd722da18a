"""Parameters of the sweep example: polynomial ridge regression on noisy synthetic data."""

from dataclasses import dataclass, field

import cfcompile as cf
from cfcompile.sweeps import search


@dataclass
class Data:
    n_points: int = 120
    noise: float = 0.3


@dataclass
class Params(cf.ExperimentParameters):
    degree: int = search(1, 2, 3)
    """Polynomial degree of the model."""
    l2: float = search(0.0, 0.1, 1.0)
    """Ridge penalty."""
    data: Data = field(default_factory=Data)
    seed: int = 0
    """Seed of the data sample (repetitions vary only this)."""
