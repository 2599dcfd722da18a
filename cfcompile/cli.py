"""The ``cfcompile`` command: ``cfcompile ls`` and ``cfcompile EXPERIMENT -p PARAMS [mode]``.

Argument names follow curifactory's ``experiment`` CLI where they overlap (-p, --names,
--indices, --overwrite, --prefix) so that researchers' muscle memory carries over.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import re
import sys
import traceback

from cfcompile.errors import CfcompileError
from cfcompile.release import __version__

log = logging.getLogger("cfcompile")


def batch_arg(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("K must be a whole number or 'auto'") from None
    if k < 0:
        raise argparse.ArgumentTypeError("K must be 1 (one job per node) or more")
    return k


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("N must be a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError("N must be 1 or more")
    return n


def column_list(value: str) -> list[str]:
    columns = [c.strip() for c in value.split(",") if c.strip()]
    if not columns:
        raise argparse.ArgumentTypeError("give column names separated by commas: A,B")
    return columns


MODES = ("--eager", "--run", "--submit", "--status", "--dry-run", "--dag", "--report", "--results")

_UNKNOWN = re.compile(r"^unrecognized arguments: (.*)$")
_CONFLICT = re.compile(r"^argument (\S+?)(?:/\S+)?: not allowed with argument (\S+?)(?:/\S+)?$")
_CHOICE = re.compile(r"^argument (\S+): invalid choice: '([^']*)' \(choose from (.*)\)$")


class Parser(argparse.ArgumentParser):
    """argparse with messages that say what to do instead.

    Misspelt options and choices get "did you mean" (argparse on Python 3.11 has none for
    options), and two modes together are named as modes, with the list to pick one from.
    """

    def error(self, message: str):  # type: ignore[override]
        super().error(self.clearer(message))

    def clearer(self, message: str) -> str:
        if "did you mean" in message or "maybe you meant" in message:
            return message  # a newer argparse already suggests
        known = [o for o in self._option_string_actions if o.startswith("--")]
        if m := _UNKNOWN.match(message):
            hints = []
            for word in m.group(1).split():
                if word.startswith("-"):
                    close = difflib.get_close_matches(word.split("=", 1)[0], known, n=1)
                    hints += [f"{word}: did you mean {close[0]}?"] if close else []
            return message + (f" ({'; '.join(hints)})" if hints else "")
        if m := _CONFLICT.match(message):
            later, first = m.group(1), m.group(2)
            return (
                f"{first} and {later} are two modes and exclude each other: pick one of "
                f"{', '.join(MODES)} (without one, the Snakefile is printed)"
            )
        if m := _CHOICE.match(message):
            choices = [c.strip().strip("'") for c in m.group(3).split(",")]  # 3.12.8+: unquoted
            close = difflib.get_close_matches(m.group(2), choices, n=1)
            return message + (f": did you mean '{close[0]}'?" if close else "")
        return message


# long: one declarative list of every option; split up, the command line would be scattered
def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="cfcompile",
        usage="cfcompile EXPERIMENT [-p PARAMS ...] [options]\n       cfcompile ls",
        description="Compile a curifactory-style experiment into a Snakemake workflow "
        "(printed to stdout), or run it eagerly in process with --eager. "
        "`cfcompile ls` lists experiments and parameter files.",
    )
    p.add_argument("--version", action="version", version=f"cfcompile {__version__}")
    p.add_argument("experiment", help="experiment module name in experiments/ (or 'ls')")
    p.add_argument(
        "-p",
        "--params",
        action="append",
        default=[],
        metavar="NAME",
        help="parameter module (params/NAME.py or an experiment's get_params); repeatable, "
        "combined in order",
    )
    p.add_argument("--names", nargs="+", metavar="NAME", help="only these parameter sets")
    p.add_argument(
        "--indices", nargs="+", metavar="I", help="only these parameter sets: 3, 1-4, 5:"
    )
    p.add_argument(
        "--project", metavar="DIR", help="project directory (default: nearest with experiments/)"
    )
    p.add_argument("--cache-path", metavar="DIR", help="cache folder (default: PROJECT/data/cache)")
    p.add_argument("--prefix", help="cache file prefix (default: the experiment name)")
    p.add_argument("--overwrite", action="store_true", help="rerun every stage, ignoring caches")
    p.add_argument(
        "-o", "--output", metavar="FILE", help="write the Snakefile here instead of stdout"
    )
    p.add_argument(
        "--workflow-dir",
        metavar="DIR",
        help="where the manifest, node database and logs go (default PROJECT/.cfcompile/EXP)",
    )
    p.add_argument(
        "--batch",
        type=batch_arg,
        default="auto",
        metavar="K",
        help="run the stage chains of K parameter sets in one job; 1: one job per node; "
        "default 'auto': chosen from recorded stage times (see --dry-run)",
    )
    modes = p.add_argument_group(
        "modes (one at most; without one, the Snakefile is printed)"
    ).add_mutually_exclusive_group()
    modes.add_argument("--eager", action="store_true", help="run in this process, like curifactory")
    modes.add_argument("--run", action="store_true", help="compile, then run it with Snakemake")
    modes.add_argument(
        "--submit",
        choices=("slurm", "local"),
        help="submit job arrays through submitit and exit (local: run them here)",
    )
    modes.add_argument("--status", action="store_true", help="done/queued/running/failed per node")
    modes.add_argument(
        "--dry-run", action="store_true", help="what would run and why (no Snakemake)"
    )
    modes.add_argument(
        "--dag",
        nargs="?",
        const="dot",
        choices=("dot", "mermaid", "svg", "png", "graphml", "json"),
        help="the stage DAG (default dot); svg/png are written to -o or the workflow dir; "
        "graphml/json are the graph as data (every node, or one per stage with --dag-level "
        "stages)",
    )
    modes.add_argument(
        "--report", action="store_true", help="write a self-contained HTML report (-o FILE)"
    )
    modes.add_argument("--results", action="store_true", help="collect and print the results table")
    run = p.add_argument_group("running (arguments after -- go to snakemake)")
    run.add_argument(
        "--cores",
        default=None,
        help="with --run: local cores (default: all); with --dry-run: the cores to estimate for",
    )
    run.add_argument(
        "--profile",
        metavar="DIR",
        help="Snakemake profile: a directory, or 'local' / 'slurm' for the bundled ones",
    )
    run.add_argument("--partition", help="--submit: Slurm partition (sbatch -p)")
    run.add_argument("--account", help="--submit: Slurm account (sbatch -A)")
    run.add_argument("--time", type=int, metavar="MIN", help="--submit: time limit per task")
    run.add_argument("--mem-mb", type=int, help="--submit: memory per task")
    run.add_argument("--gpus", type=int, help="--submit: GPUs per task")
    look = p.add_argument_group("looking before you spend")
    look.add_argument("--json", action="store_true", help="with --dry-run: the plan as JSON")
    look.add_argument(
        "--dag-level",
        choices=("auto", "full", "stages"),
        default="auto",
        help="full node graph, one box per stage, or auto (stages above 150 nodes)",
    )
    look.add_argument("--sort", metavar="COLUMN", help="with --results: sort by this column")
    look.add_argument("--desc", action="store_true", help="with --results: largest first")
    look.add_argument(
        "--top", type=positive_int, metavar="N", help="with --results: only the first N rows"
    )
    look.add_argument(
        "--columns",
        type=column_list,
        metavar="A,B",
        help="with --results: only these columns, in this order",
    )
    look.add_argument(
        "--failed", action="store_true", help="with --status: only failed or timed-out nodes"
    )
    p.add_argument(
        "--rerun-changed-code",
        action="store_true",
        help="rerun cached nodes whose stage code changed since their cache was written "
        "(by default they stay cached, as in curifactory; --dry-run names them)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:  # a first look, not a mistake: show what there is to do
        parser.print_help()
        return 0
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    args.snakemake_args = extra
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    from cfcompile import commands  # after parsing: --help stays fast

    modes = (  # argparse allows at most one; compiling is the default
        (args.eager, commands.cmd_eager),
        (args.dry_run, commands.cmd_dry_run),
        (args.dag, commands.cmd_dag),
        (args.report, commands.cmd_report),
        (args.results, commands.cmd_results),
        (args.run, commands.cmd_run),
        (args.submit, commands.cmd_submit),
        (args.status, commands.cmd_status),
    )
    if args.snakemake_args and not args.run:
        parser.error("arguments after -- are passed to snakemake and need --run")
    check_companions(parser, args)
    try:
        if args.experiment == "ls":
            return commands.cmd_ls(args)
        for wanted, command in modes:
            if wanted:
                return command(args)
        return commands.cmd_compile(args)
    except CfcompileError as exc:
        return failed(args, f"cfcompile: error: {exc}")
    except OSError as exc:  # an unwritable, missing or full folder: name it, no traceback
        where = exc.filename or "a file"
        return failed(args, f"cfcompile: error: cannot use {where}: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - the researcher's code raised while traced
        traceback.print_exc()
        return failed(args, f"cfcompile: error: {type(exc).__name__}: {exc} (traceback above)")


COMPANIONS = (
    ("failed", "--failed", "status", "--status"),
    ("top", "--top", "results", "--results"),
    ("columns", "--columns", "results", "--results"),
)


def check_companions(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse an option that only means something with a mode that is not given, instead of
    ignoring it: ``--failed`` without ``--status`` would print nothing different."""
    for dest, option, mode, mode_option in COMPANIONS:
        if getattr(args, dest) and not getattr(args, mode):
            parser.error(f"{option} works with {mode_option} only")
    if args.rerun_changed_code and args.eager:
        parser.error(
            "--rerun-changed-code works with compiled runs; an --eager run reruns with --overwrite"
        )


def failed(args: argparse.Namespace, message: str) -> int:
    """Report a failure; in the documented pipe, make Snakemake fail with the same message.

    ``cfcompile X | snakemake -s /dev/stdin`` would otherwise read an empty Snakefile, say
    "Nothing to be done" and exit 0 after a compile error. The message goes in as a Python
    string literal (repr), so nothing in it can become Snakefile code.
    """
    print(message, file=sys.stderr)
    compiling = not any(
        (
            args.eager,
            args.dry_run,
            args.dag,
            args.report,
            args.results,
            args.run,
            args.submit,
            args.status,
            args.experiment == "ls",
        )
    )
    if compiling and not args.output and not sys.stdout.isatty():
        sys.stdout.write(
            "# cfcompile could not compile this workflow (its message is on stderr too).\n"
            f"raise Exception({message!r})\n"
        )
        sys.stdout.flush()
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
