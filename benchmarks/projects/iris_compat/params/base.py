"""Logistic regression vs. random forest on iris, three seeds each."""

from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from params import Params


def get_params():
    sets = []
    for seed in (1, 2, 3):
        sets.append(
            Params(name=f"lr_seed{seed}", balanced=True, model_type=LogisticRegression, seed=seed)
        )
        sets.append(
            Params(name=f"rf_seed{seed}", n=50, model_type=RandomForestClassifier, seed=seed)
        )
    return sets
