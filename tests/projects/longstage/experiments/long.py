"""A long stage between two quick ones: it checkpoints after every step (one step is
LONG_STEP_SECONDS of sleep), and every execution is logged to LONG_LOG with the Slurm restart
count, so a test can tell which attempt did which step."""

import os
import time

import cfcompile as cf
from cfcompile.caching import JsonCacher


def _log(text):
    path = os.environ.get("LONG_LOG")
    if path:
        with open(path, "a") as f:
            restart = os.environ.get("SLURM_RESTART_COUNT", "-")
            f.write(f"{time.time():.2f} {restart} {os.getpid()} {text}\n")


def work(i):
    """A helper: editing it keeps the stage's checkpoint (only the stage's own source counts)."""
    return (i * 7919) % 1000 / 1000


@cf.stage(outputs=["seed"], cachers=[JsonCacher])
def prepare(record):
    _log("prepare")
    return 17


# uses=: what it reads of its parameters is declared, and checked (cf.checkpoint's own reads
# of the record are not the stage's)
@cf.stage(inputs=["seed"], outputs=["total"], cachers=[JsonCacher], uses=["steps", "checkpoint"])
def train(record, seed):
    step_s = float(os.environ.get("LONG_STEP_SECONDS", "1"))
    ckpt = cf.checkpoint(record) if record.params.checkpoint else None
    state = (ckpt.load() if ckpt else None) or {"i": 0, "total": seed}
    _log(f"train from {state['i']}")
    for i in range(state["i"], record.params.steps):
        time.sleep(step_s)
        state = {"i": i + 1, "total": state["total"] + work(i)}
        _log(f"step {i + 1}")
        if ckpt:
            ckpt.save(state)
    _log("train done")
    return round(state["total"], 6)


@cf.stage(inputs=["total"], outputs=["score"], cachers=[JsonCacher])
def score(record, total):
    _log("score")
    return total * 2


def run(param_sets, manager):
    for p in param_sets:
        score(train(prepare(cf.Record(manager, p))))
