"""Parameters of the iris example: which classifier, how it is configured, which seed."""

from dataclasses import dataclass

import curifactory as cf
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression


@dataclass
class Params(cf.ExperimentParameters):
    balanced: bool = False
    """Whether class weights should be balanced or not."""
    n: int = 100
    """The number of trees for a random forest."""
    seed: int = 42
    """The random state seed for data splitting and model training."""
    model_type: type[ClassifierMixin] = LogisticRegression
    """The sklearn model class to use."""
    test_fraction: float = 0.25
    """Share of the data held out for scoring."""
