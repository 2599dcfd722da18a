"""Train and score sklearn classifiers on iris, then compare every model."""

from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

import cfcompile as cf
from cfcompile.caching import JsonCacher, PickleCacher
from cfcompile.reporting import JsonReporter


@cf.stage(
    outputs=["training_data", "testing_data"],
    cachers=[PickleCacher] * 2,
    uses=["seed", "test_fraction"],  # the split depends on these alone: sets share it
)
def load_data(record):
    params = record.params
    data = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=params.test_fraction, random_state=params.seed
    )
    return (x_train, y_train), (x_test, y_test)


@cf.stage(
    inputs=["training_data"],
    outputs=["model"],
    cachers=[PickleCacher],
    resources={"mem_mb": 600, "runtime": 5},  # reaches sbatch as --mem / --time
)
def train_model(record, training_data):
    params = record.params
    kwargs = {"random_state": params.seed}
    if params.balanced:
        kwargs["class_weight"] = "balanced"
    if params.model_type is RandomForestClassifier:
        kwargs["n_estimators"] = params.n
    else:
        kwargs["max_iter"] = 1000
    model = params.model_type(**kwargs)
    model.fit(*training_data)
    return model


@cf.stage(inputs=["testing_data", "model"], outputs=["scores"], cachers=[JsonCacher])
def test_model(record, testing_data, model):
    x_test, y_test = testing_data
    predicted = model.predict(x_test)
    scores = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1_macro": float(f1_score(y_test, predicted, average="macro")),
    }
    record.report(JsonReporter(scores, name="scores"))
    return scores


@cf.aggregate(inputs=["scores"], outputs=["comparison"], cachers=[JsonCacher])
def compare_models(record, records, scores):
    comparison = {r.params.name: s for r, s in scores.items()}
    width = max(len(name) for name in comparison)
    print(f"{'parameter set':<{width}}  accuracy  f1_macro")
    for name, s in sorted(comparison.items(), key=lambda kv: -kv[1]["accuracy"]):
        print(f"{name:<{width}}  {s['accuracy']:8.4f}  {s['f1_macro']:8.4f}")
    record.report(JsonReporter(comparison, name="comparison"))
    return comparison


def run(param_sets, manager):
    for param_set in param_sets:
        record = cf.Record(manager, param_set)
        test_model(train_model(load_data(record)))
    compare_models(cf.Record(manager, None))
