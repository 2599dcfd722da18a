"""What a node or a job asks of a scheduler, and how requests combine: written once.

A node's request is what its stage declares (``resources=``, ``threads=``), with its
``timeout`` bounding the runtime. A job runs several nodes one after another (a unit of
chains, an array task), so its runtime is the sum and everything else the largest; a
Snakemake rule or a submitit array serves many jobs at once, so it asks for what its largest
job needs. Both combinations are ``merge``; only the runtime differs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from cfcompile.values import is_number

SCHEDULER_RESOURCES = ("mem_mb", "runtime", "disk_mb", "gpu", "cpus_per_task", "cpus_per_gpu")
"""Numeric resources a scheduler understands; anything else is passed through as a string."""


def node_resources(declared: dict, timeout: float | None) -> dict:
    """Declared resources; a stage timeout also bounds the scheduler's runtime (minutes).

    The runtime of a stage with only ``timeout=`` is the timeout rounded up to minutes plus
    one minute of start-up: the scheduler must not kill a stage its own limit would allow.
    """
    res = dict(declared)
    if timeout and "runtime" not in res:
        res["runtime"] = math.ceil(float(timeout) / 60) + 1
    return res


def merge(requests: Iterable[dict], in_sequence: bool) -> dict[str, Any]:
    """One request covering ``requests``.

    ``in_sequence``: they run one after another in one job, so the runtimes add up (given only
    when one of them declares one, rounded up to whole minutes); otherwise the largest runtime.
    Other numbers take the largest value (one runs at a time, or the job must fit the largest);
    strings (a partition) keep the first value; keys keep the order they were first declared in.
    """
    out: dict[str, Any] = {}
    runtime = 0.0
    has_runtime = False
    for request in requests:
        for key, value in request.items():
            if key == "runtime" and in_sequence:
                if is_number(value):
                    runtime += float(value)
                    has_runtime = True
                    out.setdefault("runtime", 0)  # keeps the declared order of keys
            elif is_number(value):
                out[key] = max(out.get(key, value), value)
            else:
                out.setdefault(key, value)
    if has_runtime:
        out["runtime"] = int(math.ceil(runtime))
    return out
