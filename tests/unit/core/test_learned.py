"""Learned reuse classes (``core.learned``): stages that declare nothing, merged by what they
were seen to read."""

from __future__ import annotations

import json

from cfcompile.core import learned, reuse, tokens
from cfcompile.core.reads import Reads

from .sample_params import P, stage_spec


class _Rec:
    """What ``learned.record`` asks of a record: its parameters and hash."""

    def __init__(self, params):
        self.params = params

    def get_hash(self):
        return "h-" + self.params.name


class _Cacher:
    """What the index asks of a cacher: where its artifact and metadata are published."""

    def __init__(self, path):
        self.path = str(path)

    def final_path(self, suffix=None):
        return self.path if suffix is None else self.path[: -len(".json")] + suffix


def _reads(paths, everything=None):
    reads = Reads("prep", "a", None)
    reads.paths = set(paths)
    reads.everything = everything
    return reads


def test_a_learned_entry_serves_every_set_that_agrees_on_what_was_read(tmp_path):
    spec = stage_spec()  # declares nothing: learned
    base = reuse.decide(spec, P(name="a"), {}, reuse.Settings(True, True)).key
    assert base is not None
    out = tmp_path / "a_x.json"
    out.write_text("1")
    meta = tmp_path / "a_x_metadata.json"
    a = P(name="a", seed=1, lr=0.1)
    own = learned.class_of(base, ["seed"], tokens.reads_digest(a, ["seed"], "prep"))
    written = {"params_hash": "h-a", "code_identity": "code", "reuse_class": own}
    meta.write_text(json.dumps(written))
    published = [str(out), str(meta)]
    cachers = [_Cacher(out)]
    key = learned.record(str(tmp_path), base, _reads(["seed"]), published, _Rec(a), cachers, "code")
    found = learned.find(str(tmp_path), base, P(name="b", seed=1, lr=9.0), "prep")
    assert found is not None and found[1] == key == own and found[0]["params_name"] == "a"
    assert learned.find(str(tmp_path), base, P(name="c", seed=2), "prep") is None
    # the source rewritten by other code (another branch, curifactory): no longer a source
    meta.write_text(json.dumps({**written, "code_identity": "other"}))
    assert learned.find(str(tmp_path), base, P(name="b", seed=1), "prep") is None
    # recomputed since for another class (an --overwrite under another input): no source
    meta.write_text(json.dumps({**written, "reuse_class": "another"}))
    assert learned.find(str(tmp_path), base, P(name="b", seed=1), "prep") is None
    meta.write_text(json.dumps(written))
    whole = _reads([], everything="vars of record.params, at e.py:3")
    assert learned.record(str(tmp_path), base, whole, published, _Rec(a), cachers, "code") is None
    assert learned.whole_use(str(tmp_path), base) == "vars of record.params, at e.py:3"
    forked = _reads(["seed"])
    forked.incomplete = "the process forked while the stage ran"
    assert learned.record(str(tmp_path), base, forked, published, _Rec(a), cachers, "x") is None
    out.unlink()  # an entry whose files are gone serves nobody
    assert learned.find(str(tmp_path), base, P(name="b", seed=1), "prep") is None
