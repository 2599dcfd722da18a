"""Parameter-set hashes bit-identical to curifactory 0.20.5 (``cfcompile.hashing``): a known
set's hash, what never counts, preset hashes, and curifactory's registry.

The differential checks against the installed curifactory are tests/oracle/test_hash_oracle.py;
the value pinned here is what curifactory 0.20.5 gives for the same class.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pytest

import cfcompile as cf
from cfcompile import hashing
from cfcompile.errors import ParamsError


@dataclass
class P(cf.ExperimentParameters):
    lr: float = 0.1
    layers: list = field(default_factory=lambda: [8, 4])
    seed: int = 1


@dataclass
class Inner:
    width: int = 8


@dataclass
class Nested(cf.ExperimentParameters):
    inner: Inner = field(default_factory=Inner)
    gpus: int = 1
    hash_representations: dict = cf.set_hash_functions(gpus=None)


def test_a_known_parameter_set_has_curifactorys_hash():
    assert hashing.compute_hash(P(name="a")) == "2525bb5b02a5f942961ee6e8fd1e2a0e0"
    # the rule itself: the md5 of name and repr of each hashed field, summed, in hex
    total = sum(
        int(hashlib.md5(f"{key}{value!r}".encode()).hexdigest(), 16)
        for key, value in (("lr", 0.1), ("layers", [8, 4]), ("seed", 1))
    )
    assert hashing.compute_hash(P(name="a")) == f"{total:x}"
    assert hashing.compute_hash(hashing.hash_values(P(name="a"))) == f"{total:x}"  # dry form


def test_names_and_fields_set_to_none_never_count_and_nested_sets_do():
    assert P(name="a").params_hash() == P(name="b", overwrite=True).params_hash()
    assert P(name="a").params_hash() != P(name="a", seed=2).params_hash()
    assert Nested(name="n", gpus=1).params_hash() == Nested(name="n", gpus=4).params_hash()
    assert Nested(name="n").params_hash() != Nested(name="n", inner=Inner(16)).params_hash()
    reps = hashing.hash_values(Nested(name="n"))
    assert reps["gpus"] == ("SKIPPED: set to None in hash_representations", None)
    assert reps["inner"] == (
        "get_param_set_hash_values(param_set, inner)",
        {"width": ("repr(width)", "8")},
    )


def test_a_preset_hash_wins_and_must_stay_a_file_name_in_the_cache_folder():
    p = P(name="a")
    p.hash = "abc123"
    assert hashing.params_hash(p) == "abc123" and hashing.compute_hash(p) != "abc123"
    assert hashing.is_valid_hash("abc123") and hashing.is_valid_hash("sample_hash")
    assert hashing.is_valid_hash("My Set")  # curifactory takes any string; so does --eager
    for bad in ("../x", "a/b", "a\\b", "x\0y", "", "..", "t\tab", "h" * 129):
        assert not hashing.is_valid_hash(bad), bad
    p.hash = "../etc"
    with pytest.raises(ParamsError, match="out of the cache folder"):
        hashing.check_preset_hash(p)
    p.hash = "My Set"
    hashing.check_preset_hash(p)  # eager: fine
    with pytest.raises(ParamsError, match="shell command line"):
        hashing.check_preset_hash(p, for_jobs=True)  # compiled: a job's command line


def test_set_hash_functions_takes_a_dict_or_keywords():
    with pytest.raises(ValueError, match="must be a dict"):
        hashing.set_hash_functions(["lr"])
    made = hashing.set_hash_functions({"lr": None}, seed=None).default_factory()
    assert made == {"lr": None, "seed": None}


def test_the_registry_is_written_as_curifactory_writes_it(tmp_path):
    p = P(name="a")
    value = hashing.hash_param_set(p, store_in_registry=True, registry_path=str(tmp_path))
    assert value == p.params_hash()
    registry = json.loads((tmp_path / "params_registry.json").read_text())
    assert registry[value]["lr"] == "0.1" and "_DRY_REPS" in registry[value]
    assert hashing.combo_hash("a", ["b", None]) == hashing.combo_hash("a", ["b", None])
    assert hashing.combo_hash("a", ["b"]) != hashing.combo_hash("a", ["c"])
