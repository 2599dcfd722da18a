"""Configurations over repetitions, counted honestly, ranked, and the end-of-run lines
(``runtime.summary``)."""

from __future__ import annotations

import pytest

from cfcompile.runtime import summary

KINDS = {"name": "identity", "status": "identity", "acc": "metric", "loss": "metric",
         "lr": "param", "opt": "param", "seed": "param"}  # fmt: skip


def row(lr, opt, seed, acc, status="done"):
    done = status == "done"
    return {"name": f"lr{lr}_{opt}_seed{seed}", "status": status, "acc": acc if done else None,
            "loss": (1 - acc) if done else None, "lr": lr, "opt": opt, "seed": seed}  # fmt: skip


ROWS = [
    row(0.1, "sgd", 0, 0.80), row(0.1, "sgd", 1, 0.82), row(0.1, "sgd", 2, 0.0, "failed (fit)"),
    row(0.01, "sgd", 0, 0.90), row(0.01, "sgd", 1, 0.94), row(0.01, "sgd", 2, 0.92),
    row(0.1, "adam", 0, 0.0, "failed (fit)"), row(0.1, "adam", 1, 0.0, "timed out (fit)"),
    row(0.1, "adam", 2, 0.0, "failed (fit)"),
    row(0.01, "adam", 0, 0.70), row(0.01, "adam", 1, 0.0, "missing (fit)"),
    row(0.01, "adam", 2, 0.0, "missing (fit)"),
]  # fmt: skip


def test_n_counts_what_finished_and_failures_are_named():
    params = ["lr", "opt", "seed"]
    varied, repeats, constant = summary.split_parameters(ROWS, params)
    assert (varied, repeats, constant) == (["lr", "opt"], ["seed"], {})
    configs = {c.name: c for c in summary.configurations(ROWS, params, repeats, ["acc"])}
    sgd = configs["lr0.1_sgd"]
    assert (sgd.finished, sgd.failed, sgd.counts(repeats)) == (2, 1, "2 of 3 seeds, 1 failed")
    assert sgd.stats["acc"].n == 2 and sgd.stats["acc"].mean == pytest.approx(0.81)
    assert sgd.stats["acc"].text() == "0.81 ± 0.01"
    assert configs["lr0.1_adam"].counts(repeats) == "all 3 seeds failed"
    assert "acc" not in configs["lr0.1_adam"].stats
    one = configs["lr0.01_adam"]
    assert one.counts(repeats) == "1 of 3 seeds, 2 not run"
    assert one.stats["acc"].std is None and one.stats["acc"].text() == "0.7 (n=1)"
    assert configs["lr0.01_sgd"].counts(repeats) == "3 seeds"


def test_the_ranking_takes_its_direction_from_the_metric_unless_told():
    ranked = summary.rank(ROWS, KINDS)
    assert (ranked.metric, ranked.largest) == ("acc", True)
    assert [c.name for c in ranked.configs][:3] == ["lr0.01_sgd", "lr0.1_sgd", "lr0.01_adam"]
    by_loss = summary.rank(ROWS, KINDS, "loss")
    assert not by_loss.largest and by_loss.configs[0].name == "lr0.01_sgd"
    assert summary.rank(ROWS, KINDS, "acc", desc=False).configs[0].name == "lr0.01_adam"
    with pytest.raises(ValueError, match="metrics: acc, loss"):
        summary.rank(ROWS, KINDS, "f1")
    over_opt = summary.rank(ROWS, KINDS, over=["seed", "opt"])
    assert over_opt.repeats == ["opt", "seed"] and over_opt.varied == ["lr"]


def test_the_end_of_a_run_says_what_is_best_and_what_could_not_be_ranked():
    lines = summary.best_lines(summary.rank(ROWS, KINDS), top=2)
    assert lines[0] == (
        "best 2 of 4 configuration(s) by acc (highest first), mean ± std over seed:"
    )
    assert lines[1].split()[:3] == ["1.", "lr=0.01,", "opt=sgd"] and "(3 seeds)" in lines[1]
    assert "(2 of 3 seeds, 1 failed)" in lines[2]
    assert lines[3] == (
        "  not ranked, no finished set with acc: lr=0.1, opt=adam (all 3 seeds failed)"
    )
    (flat,) = summary.best_rows(summary.rank(ROWS, KINDS), top=1)
    spread = pytest.approx(0.01633, 1e-3)
    assert flat == {
        "rank": 1, "configuration": "lr0.01_sgd", "lr": 0.01, "opt": "sgd", "finished": 3,
        "sets": 3, "failed": 0, "acc_mean": pytest.approx(0.92), "acc_std": spread,
        "loss_mean": pytest.approx(0.08), "loss_std": spread,
    }  # fmt: skip
    assert summary.rank([], KINDS) is None


def test_a_value_cannot_take_over_the_terminal():
    rows = [row(0.1, "\x1b[2J\x1b[31mred\n", s, 0.5 + s / 10) for s in range(2)]
    rows.append(row(0.1, "sgd", 0, 0.1))
    lines = summary.best_lines(summary.rank(rows, KINDS), top=1)
    assert not any(ord(ch) < 32 for line in lines for ch in line)
    assert "opt=?[2J?[31mred?" in lines[1]
