"""Every backend behind one protocol (``backends.all_backends``, ``backends.protocol``)."""

from __future__ import annotations

import inspect

from cfcompile.backends import all_backends, protocol, slurm, snakemake


def test_both_backends_implement_the_protocol():
    names = []
    for backend in all_backends():
        names.append(backend.name)
        for method in ("prepare", "launch", "states"):
            want = inspect.signature(getattr(protocol.Backend, method))
            have = inspect.signature(getattr(type(backend), method))
            assert list(have.parameters) == list(want.parameters), (backend.name, method)
    assert names == [snakemake.BACKEND.name, slurm.BACKEND.name] == ["snakemake", "slurm arrays"]
