"""A stage's reportables in the cache (``core.reportable_files``): pickled beside its outputs in
the stage's transaction, listed as curifactory lists them, reported again from the cache."""

from __future__ import annotations

import json

import cfcompile as cf
from cfcompile.caching import JsonCacher
from cfcompile.core import reportable_files
from cfcompile.core.transaction import Transaction
from cfcompile.reporting import JsonReporter


@cf.stage(outputs=["v"], cachers=[JsonCacher])
def fit(record):
    return 1


def record_of(tmp_path):
    manager = cf.ArtifactManager("exp", cache_path=str(tmp_path / "cache"), folders=False)
    record = cf.Record(manager, cf.ExperimentParameters(name="p"))
    record.stages.append("fit")
    return record


def test_reportables_are_published_with_the_transaction_and_reported_again(tmp_path):
    record = record_of(tmp_path)
    record.report(JsonReporter({"acc": 0.5}, name="scores"))
    txn = Transaction()
    reportable_files.save_reportables(record, fit.spec, record.manager.reportables, txn)
    cache = tmp_path / "cache"
    assert not list(cache.glob("exp_*_fit_reportables*"))  # nothing visible before the commit
    txn.commit()
    h = record.get_hash()
    (pickled,) = (cache / f"exp_{h}_fit_reportables").iterdir()
    assert pickled.name == "p_fit_scores.pkl"
    listing = cache / f"exp_{h}_fit_reportables_file_list.json"
    assert json.loads(listing.read_text()) == [str(pickled)]  # outside the cwd: absolute
    again = record_of(tmp_path)  # a later run, the stage cached
    reportable_files.load_cached_reportables(again, fit.spec)
    (back,) = again.manager.reportables
    assert isinstance(back, JsonReporter) and back.data == {"acc": 0.5}
    assert back.record is again


def test_a_listing_with_a_missing_file_reports_nothing(tmp_path):
    record = record_of(tmp_path)
    record.report(JsonReporter({"acc": 0.5}, name="scores"))
    txn = Transaction()
    reportable_files.save_reportables(record, fit.spec, record.manager.reportables, txn)
    txn.commit()
    for pickled in (tmp_path / "cache").glob("exp_*_fit_reportables/*.pkl"):
        pickled.unlink()
    again = record_of(tmp_path)
    reportable_files.load_cached_reportables(again, fit.spec)
    assert again.manager.reportables == []
    reportable_files.load_cached_reportables(record_of(tmp_path / "empty"), fit.spec)  # none


def test_listed_names_are_found_beside_the_listing_whatever_the_working_directory(tmp_path):
    folder = tmp_path / "cache" / "exp_ab_fit_reportables"
    folder.mkdir(parents=True)
    (folder / "p_fit_scores.pkl").write_bytes(b"")
    listing = tmp_path / "cache" / "exp_ab_fit_reportables_file_list.json"
    written_elsewhere = "data/cache/exp_ab_fit_reportables/p_fit_scores.pkl"  # curifactory's
    assert reportable_files.listed_reportables(str(listing), [written_elsewhere, "gone.pkl"]) == [
        str(folder / "p_fit_scores.pkl"),
        "gone.pkl",
    ]
