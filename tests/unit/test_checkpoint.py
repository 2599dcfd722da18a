"""The checkpoint object of a long stage (``cfcompile.core.checkpoint``), in process: real
files in a real cache folder, a real Record; the routes that use it are tested end to end in
tests/cli/test_long_stages_local.py and tests/slurm/test_long_stages.py."""

from __future__ import annotations

import json
import os
import time

import pytest

import cfcompile as cf
from cfcompile.caching import JsonCacher
from cfcompile.core import checkpoint as ck


@pytest.fixture
def record(tmp_path):
    manager = cf.ArtifactManager("t", cache_path=str(tmp_path / "cache"))
    return cf.Record(manager, cf.ExperimentParameters(name="a"))


def stage_call(record, code="c1", overwrite=False):
    return ck.running("train", code, record, overwrite)


def test_outside_a_stage_it_says_where_it_belongs(record):
    with pytest.raises(RuntimeError, match="inside a running stage"):
        cf.checkpoint(record)


def test_nothing_to_load_first_then_the_last_written_state(record):
    with stage_call(record):
        c = cf.checkpoint(record, every=0)
        assert c.load() is None and not c.resumed
        assert c.save({"i": 1}) and c.save({"i": 2})
        assert cf.checkpoint(record) is c  # one object per stage call
    with stage_call(record):
        again = cf.checkpoint(record)
        assert again.resumed and again.load() == {"i": 2}
        assert [a["ended"] for a in again.attempts] == ["returned (nothing published)", None]


def test_saves_are_throttled_unless_asked_for_now(record):
    with stage_call(record):
        c = cf.checkpoint(record, every=3600)
        assert not c.save({"i": 1})
        assert not os.path.exists(os.path.join(c.path, "state-1"))
        assert c.save({"i": 2}, now=True)
        assert not c.save({"i": 3})
    with stage_call(record):
        assert cf.checkpoint(record).load() == {"i": 2}


def test_the_environment_sets_the_interval(record, monkeypatch):
    monkeypatch.setenv(ck.EVERY_ENV, "0")
    with stage_call(record):
        assert cf.checkpoint(record).save({"i": 1})
    monkeypatch.setenv(ck.EVERY_ENV, "3600")
    with stage_call(record):
        assert not cf.checkpoint(record).save({"i": 2})


def test_a_write_replaces_the_file_atomically_and_leaves_one_state(record):
    with stage_call(record):
        c = cf.checkpoint(record, every=0)
        for i in range(5):
            c.save({"i": i})
        files = sorted(os.listdir(c.path))
    assert files == ["meta.json", "state-5"]  # the old states removed, no temp files
    meta = json.loads(open(os.path.join(c.path, "meta.json")).read())
    assert meta["file"] == "state-5" and meta["saves"] == 5


def test_an_edited_stage_starts_over_with_a_warning(record, caplog):
    with stage_call(record, code="c1"):
        cf.checkpoint(record, every=0).save({"i": 7})
    with stage_call(record, code="c1"):
        assert cf.checkpoint(record).load() == {"i": 7}  # same source: resumes
    with stage_call(record, code="c2"):
        assert cf.checkpoint(record).load() is None
    assert "source changed since its checkpoint was saved" in caplog.text


def test_overwrite_discards_it(record):
    with stage_call(record):
        cf.checkpoint(record, every=0).save({"i": 7})
    time.sleep(0.01)
    with stage_call(record, overwrite=True):
        assert cf.checkpoint(record).load() is None


def test_the_job_runtime_discards_only_what_began_before_the_overwrite(record):
    with stage_call(record):
        cf.checkpoint(record, every=0).save({"i": 1})
    since = time.time()
    ck.configure("train", record.get_hash(), None, since)
    with stage_call(record, overwrite=True):
        c = cf.checkpoint(record, every=0)
        assert c.load() is None  # begun before the compile that asked for it
        c.save({"i": 2})
    with stage_call(record, overwrite=True):  # a requeued attempt of the same submission
        assert cf.checkpoint(record).load() == {"i": 2}
    ck.configure("train", record.get_hash())


def test_published_outputs_remove_it_and_the_history_stays_in_the_journal(record, tmp_path):
    journal = tmp_path / "wf" / "attempts" / "train.json"
    ck.configure("train", record.get_hash(), str(journal))
    try:
        with stage_call(record) as run:
            c = cf.checkpoint(record, every=0)
            c.save({"i": 1})
            c.finished()
        assert not os.path.exists(c.path) and not os.path.exists(os.path.dirname(c.path))
        assert run.opened is c
        history = json.loads(journal.read_text())
        assert [a["ended"] for a in history["attempts"]] == ["finished"]
    finally:
        ck.configure("train", record.get_hash())


def test_a_cacher_writes_the_state(record):
    with stage_call(record):
        c = cf.checkpoint(record, cacher=JsonCacher, every=0)
        c.save({"weights": [1, 2, 3]})
        assert json.loads(open(os.path.join(c.path, "state-1")).read()) == {"weights": [1, 2, 3]}
    with stage_call(record):
        assert cf.checkpoint(record, cacher=JsonCacher).load() == {"weights": [1, 2, 3]}


def test_a_stop_request_writes_at_the_next_save_and_interrupts(record):
    with pytest.raises(ck.Interrupted, match="time limit"):
        with stage_call(record):
            c = cf.checkpoint(record, every=3600)
            c.save({"i": 1})
            c.request_stop("interrupted: time limit near")
            c.save({"i": 2})
            pytest.fail("save() returned after a stop request")
    with stage_call(record):
        c = cf.checkpoint(record)
        assert c.load() == {"i": 2}
        assert c.attempts[0]["ended"] == "interrupted: time limit near"
        assert c.attempts[0]["lost_s"] < 1


def test_ctrl_c_writes_the_last_state_handed_over(record):
    with pytest.raises(KeyboardInterrupt):
        with stage_call(record):
            c = cf.checkpoint(record, every=3600)
            c.save({"i": 1})  # throttled: not written
            raise KeyboardInterrupt
    with stage_call(record):
        c = cf.checkpoint(record)
        assert c.load() == {"i": 1}
        assert c.attempts[0]["ended"] == "interrupted (Ctrl-C)"


def test_an_error_keeps_the_last_written_state_only(record):
    with pytest.raises(ValueError):
        with stage_call(record):
            c = cf.checkpoint(record, every=3600)
            c.save({"i": 1}, now=True)
            c.save({"i": 2})
            raise ValueError("a bug in the stage")
    with stage_call(record):
        c = cf.checkpoint(record)
        assert c.load() == {"i": 1}
        assert c.attempts[0]["ended"] == "failed (ValueError)"
        assert c.attempts[0]["lost_s"] >= 0


def test_a_killed_attempt_is_recorded_as_vanished(record):
    run = ck.NodeRun("train", "c1", record, None, None)
    ck._RUNS.append(run)
    try:
        cf.checkpoint(record, every=0).save({"i": 3})  # and then nothing: SIGKILL
    finally:
        ck._RUNS.remove(run)
    with stage_call(record):
        c = cf.checkpoint(record)
        assert c.load() == {"i": 3}
        assert c.attempts[0]["ended"] == ck.VANISHED


def test_a_dry_run_reads_a_checkpoint_and_writes_nothing(record):
    with stage_call(record):
        c = cf.checkpoint(record, every=0)
        c.save({"i": 4})
        path = c.path
    before = sorted(os.listdir(path)), open(os.path.join(path, "meta.json")).read()
    with ck.running("train", "c1", record, False, dry=True):
        c = cf.checkpoint(record, every=0)
        assert c.load() == {"i": 4}
        c.save({"i": 5}, now=True)
    assert (sorted(os.listdir(path)), open(os.path.join(path, "meta.json")).read()) == before


def test_slurms_warning_stops_a_checkpointing_node_at_its_next_save(record, monkeypatch):
    import signal

    from cfcompile.runtime import requeue

    for var in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(var, raising=False)
    old = signal.getsignal(requeue.SIGNAL)
    try:
        handler = requeue.install(grace_s=4, max_requeues=20)
        with pytest.raises(ck.Interrupted, match="time limit near"):
            with stage_call(record):
                c = cf.checkpoint(record, every=3600)
                signal.raise_signal(requeue.SIGNAL)  # nothing handed over yet: it runs on
                assert c.stop is None and handler.target is None
                c.save({"i": 1})
                signal.raise_signal(requeue.SIGNAL)
                assert c.stop == requeue.TIME_LIMIT
                c.save({"i": 2})
        with stage_call(record):
            assert cf.checkpoint(record).load() == {"i": 2}
    finally:
        signal.signal(requeue.SIGNAL, old)


def test_without_a_save_after_the_warning_the_last_state_is_written_from_the_handler(record):
    import signal

    from cfcompile.runtime import requeue

    old = signal.getsignal(requeue.SIGNAL)
    try:
        requeue.install(grace_s=4, max_requeues=20)  # the reminder comes after 1 s
        with pytest.raises(ck.Interrupted):
            with stage_call(record):
                c = cf.checkpoint(record, every=3600)
                c.save({"i": 7})  # handed over, not written
                signal.raise_signal(requeue.SIGNAL)
                time.sleep(10)  # a long step: the reminder interrupts it
                pytest.fail("the reminder did not interrupt the stage")
        with stage_call(record):
            assert cf.checkpoint(record).load() == {"i": 7}
    finally:
        signal.signal(requeue.SIGNAL, old)


def test_a_node_interrupted_max_requeues_times_is_not_interrupted_again(record):
    import signal

    from cfcompile.runtime import requeue

    old = signal.getsignal(requeue.SIGNAL)
    try:
        requeue.install(grace_s=4, max_requeues=1)
        with pytest.raises(ck.Interrupted):
            with stage_call(record):
                c = cf.checkpoint(record, every=3600)
                c.save({"i": 1})
                signal.raise_signal(requeue.SIGNAL)
                c.save({"i": 2})
        handler = requeue.install(grace_s=4, max_requeues=1)
        with stage_call(record):
            c = cf.checkpoint(record, every=3600)
            c.save({"i": 3})
            signal.raise_signal(requeue.SIGNAL)
            assert c.stop is None and handler.target is None
            c.finished()
    finally:
        signal.signal(requeue.SIGNAL, old)


def test_status_and_dry_run_tell_the_story_of_a_checkpointing_node(record, tmp_path):
    from cfcompile.core.workdir import attempts_path
    from cfcompile.views import attempts

    workdir = str(tmp_path / "wf")
    nid = ("train", record.get_hash())
    ck.configure(*nid, attempts_path(workdir, nid))
    try:
        with pytest.raises(KeyboardInterrupt), stage_call(record):
            cf.checkpoint(record, every=0).save({"i": 1})
            raise KeyboardInterrupt
        with stage_call(record):
            cf.checkpoint(record).finished()
    finally:
        ck.configure(*nid)
    histories = attempts.collect(workdir, [nid, ("other", "h")])
    assert list(histories) == [nid]
    s = attempts.summary(histories[nid])
    assert s["attempts"] == 2 and s["ended"] == ["interrupted (Ctrl-C)", "finished"]
    assert s["last_save"] is not None and s["lost_s"] >= 0
    [(cells, details)] = attempts.rows({nid: {"params": "a"}}, histories)
    assert cells[:3] == ["train", "a", "2 attempt(s)"]
    assert details[0].startswith("attempt 1: interrupted (Ctrl-C)")
    assert attempts.collect(str(tmp_path / "nothing"), [nid]) == {}
