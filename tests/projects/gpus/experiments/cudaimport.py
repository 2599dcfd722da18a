"""An experiment whose import loads a CUDA driver library (FAKE_LIBCUDA: any shared library
copied to a file named libcuda.so.1), as a module that calls torch.cuda at import would."""

import ctypes
import os

import cfcompile as cf
from cfcompile.caching import JsonCacher

if os.environ.get("FAKE_LIBCUDA"):
    ctypes.CDLL(os.environ["FAKE_LIBCUDA"])


@cf.stage(outputs=["ran"], cachers=[JsonCacher], resources={"gpu": 1})
def ran(record):
    return {"cvd": os.environ.get("CUDA_VISIBLE_DEVICES"), "ppid": os.getppid()}


def run(param_sets, manager):
    for p in param_sets[:2]:
        ran(cf.Record(manager, p))
