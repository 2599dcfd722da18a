"""Fit polynomial ridge regressions across a sweep, then summarize repeated runs."""

import math
import random

import cfcompile as cf
from cfcompile.caching import JsonCacher, PickleCacher
from cfcompile.sweeps import mean_std


@cf.stage(outputs=["train", "test"], cachers=[PickleCacher, PickleCacher])
def make_data(record):
    p = record.params
    rng = random.Random(p.seed)
    points = []
    for _ in range(p.data.n_points):
        x = rng.uniform(-2, 2)
        points.append((x, math.sin(x) + rng.gauss(0, p.data.noise)))
    cut = int(0.7 * len(points))
    return points[:cut], points[cut:]


def _solve(a, b):
    """Gaussian elimination with partial pivoting (tiny systems, no numpy needed)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= f * m[col][c]
    out = [0.0] * n
    for r in range(n - 1, -1, -1):
        out[r] = (m[r][n] - sum(m[r][c] * out[c] for c in range(r + 1, n))) / m[r][r]
    return out


@cf.stage(inputs=["train"], outputs=["model"], cachers=[JsonCacher], timeout=60, retries=1)
def fit(record, train):
    d, l2 = record.params.degree, record.params.l2
    feats = [[x**k for k in range(d + 1)] for x, _ in train]
    ys = [y for _, y in train]
    ata = [
        [sum(f[i] * f[j] for f in feats) + (l2 if i == j and i else 0.0) for j in range(d + 1)]
        for i in range(d + 1)
    ]
    aty = [sum(f[i] * y for f, y in zip(feats, ys)) for i in range(d + 1)]
    return _solve(ata, aty)


@cf.stage(inputs=["test", "model"], outputs=["scores"], cachers=[JsonCacher])
def evaluate(record, test, model):
    preds = [sum(c * x**k for k, c in enumerate(model)) for x, _ in test]
    ys = [y for _, y in test]
    mean = sum(ys) / len(ys)
    sse = sum((y - p) ** 2 for y, p in zip(ys, preds))
    sst = sum((y - mean) ** 2 for y in ys)
    return {"mse": sse / len(ys), "r2": 1 - sse / sst}


@cf.aggregate(inputs=["scores"], outputs=["repetitions"], cachers=[JsonCacher])
def summarize(record, records, scores):
    summary = mean_std(scores, field="seed")
    for name, s in sorted(summary.items(), key=lambda kv: kv[1]["mean_mse"]):
        print(f"{name:28s} n={s['n']}  mse {s['mean_mse']:.4f} +- {s['std_mse']:.4f}")
    return summary


def run(param_sets, manager):
    for p in param_sets:
        evaluate(fit(make_data(cf.Record(manager, p))))
    summarize(cf.Record(manager, None))
