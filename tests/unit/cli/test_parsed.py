"""What the parsed command line means: the selection handed to the driver, and the checks
that refuse options which make no sense together (``cli.parsed``, ``cli.options``)."""

from __future__ import annotations

import pytest

from cfcompile.cli.options import build_parser
from cfcompile.cli.parsed import check_companions, check_modes, local_cores, selection
from cfcompile.driver import ReuseMode, Selection


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_the_options_become_one_typed_selection():
    args = parse(
        "iris", "-p", "base", "-p", "more", "--names", "a", "b", "--cache-path", "/s c",
        "--prefix", "x", "--workflow-dir", "wf", "--project", "proj", "--overwrite",
        "--batch", "3", "--cores", "4", "--reuse",
    )  # fmt: skip
    assert selection(args) == Selection(
        experiment="iris",
        params=("base", "more"),
        names=("a", "b"),
        project="proj",
        cache_path="/s c",
        prefix="x",
        workflow_dir="wf",
        overwrite=True,
        reuse=ReuseMode.LEARNED,
        batch=3,
        cores=4,
    )
    assert selection(parse("iris", "--no-reuse", "--reuse")).reuse is ReuseMode.OFF
    assert selection(parse("iris")).reuse is ReuseMode.DECLARED
    assert local_cores(parse("iris", "--cores", "all")) is None


def test_modes_that_exclude_each_other_are_named_in_the_order_given(capsys):
    parser = build_parser()
    argv = ["iris", "--status", "--dry-run"]
    with pytest.raises(SystemExit):
        check_modes(parser, parser.parse_args(argv), argv)
    assert "--status and --dry-run are two modes" in capsys.readouterr().err


def test_an_option_without_its_mode_is_refused(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        check_companions(parser, parser.parse_args(["iris", "--failed"]))
    assert "--failed works with --status only" in capsys.readouterr().err
