"""What the parsed command line means: the checks that refuse options which make no sense
together (naming both, and what to pick), and the ``Selection`` the options make for the
driver (``driver.selection``).
"""

from __future__ import annotations

import argparse

from cfcompile.cli.options import MODES
from cfcompile.driver.selection import ReuseMode, Selection


def selection(args: argparse.Namespace) -> Selection:
    """The typed selection the driver takes, from ``-p``, ``--names``, ``--indices`` and the
    options that say where things are: the CLI's one translation of its options."""
    if getattr(args, "no_reuse", False):
        reuse = ReuseMode.OFF
    elif getattr(args, "reuse", False):
        reuse = ReuseMode.LEARNED
    else:
        reuse = ReuseMode.DECLARED
    return Selection(
        experiment=args.experiment,
        params=tuple(args.params or ()),
        names=tuple(args.names) if args.names else None,
        indices=tuple(args.indices) if args.indices else None,
        project=args.project,
        cache_path=args.cache_path,
        prefix=args.prefix,
        workflow_dir=getattr(args, "workflow_dir", None),
        overwrite=bool(args.overwrite),
        reuse=reuse,
        batch=getattr(args, "batch", "auto"),
        rerun_changed_code=bool(getattr(args, "rerun_changed_code", False)),
        cores=local_cores(args),
    )


def local_cores(args: argparse.Namespace) -> int | None:
    """What ``--batch auto`` balances over on this machine: ``--cores``, else all of them."""
    cores = getattr(args, "cores", None)
    return int(cores) if cores and str(cores).isdigit() else None


SLURM_ONLY = ("qos", "constraint", "reservation", "max_running", "fit_resources")


def check_modes(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> None:
    """--dry-run stands alone or previews a --submit; the other modes argparse keeps apart."""
    if args.dry_run:
        other = [m for m in MODES if m not in ("--dry-run", "--submit") and _given(args, m)]
        if other:
            first, later = sorted(("--dry-run", other[0]), key=lambda m: _position(argv, m))
            parser.error(
                f"{first} and {later} are two modes and exclude each other: pick one of "
                f"{', '.join(MODES)} (--submit takes --dry-run to preview)"
            )
    given = [f"--{d.replace('_', '-')}" for d in SLURM_ONLY if getattr(args, d)]
    if given and not (args.submit or args.run):
        parser.error(f"{given[0]} works with --submit or --run --profile slurm only")


def _position(argv: list[str], option: str) -> int:
    return next((i for i, a in enumerate(argv) if a.split("=", 1)[0] == option), len(argv))


def _given(args: argparse.Namespace, mode: str) -> bool:
    return bool(getattr(args, mode[2:].replace("-", "_")))


COMPANIONS = (
    ("failed", "--failed", "status", "--status"),
    ("top", "--top", "results", "--results"),
    ("columns", "--columns", "results", "--results"),
    ("best", "--best", "results", "--results"),
    ("asc", "--asc", "best", "--results --best"),
)


def check_companions(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse an option that only means something with a mode that is not given, instead of
    ignoring it: ``--failed`` without ``--status`` would print nothing different."""
    for dest, option, mode, mode_option in COMPANIONS:
        if getattr(args, dest) and not getattr(args, mode):
            parser.error(f"{option} works with {mode_option} only")
    if args.asc and args.desc:
        parser.error("--asc and --desc exclude each other")
    if args.format != "table" and not args.results:
        parser.error("--format works with --results only")
    if args.over and not (args.results or args.report):
        parser.error("--over works with --results --best or --report only")
    if args.rerun_changed_code and args.eager:
        parser.error(
            "--rerun-changed-code works with compiled runs; an --eager run reruns with --overwrite"
        )
