"""The command line's arguments: every option, its help, and errors that say what to do.

Argument names follow curifactory's ``experiment`` CLI where they overlap (-p, --names,
--indices, --overwrite, --prefix) so that researchers' muscle memory carries over; the Slurm
options are one group, shared by the general help and ``--submit slurm --help``.
"""

from __future__ import annotations

import argparse
import difflib
import re

from cfcompile.release import __version__


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


MODES = (
    "--eager",
    "--run",
    "--submit",
    "--cancel",
    "--status",
    "--dry-run",
    "--dag",
    "--report",
    "--results",
)

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


def add_slurm_options(group) -> None:
    """The site's options, shared by the general help and ``--submit slurm --help``; each
    overrides cluster_profiles/NAME/cfcompile.yaml."""
    group.add_argument("--account", help="Slurm account (sbatch -A)")
    group.add_argument("--partition", help="Slurm partition (sbatch -p)")
    group.add_argument("--qos", help="quality of service (sbatch --qos)")
    group.add_argument("--constraint", help="node features (sbatch -C), e.g. 'skylake&ib'")
    group.add_argument("--reservation", help="reservation name (sbatch --reservation)")
    group.add_argument(
        "--time",
        type=positive_int,
        metavar="MIN",
        help="time limit of every task (sbatch --time); packing keeps each task's chains "
        "within it (default: from declared runtimes and recorded times)",
    )
    group.add_argument("--mem-mb", type=positive_int, metavar="MB", help="memory per task")
    group.add_argument("--gpus", type=positive_int, metavar="N", help="GPUs per task")
    group.add_argument(
        "--max-running",
        type=positive_int,
        metavar="N",
        help="at most N tasks of this sweep run at once (array %%N throttle)",
    )
    group.add_argument(
        "--fit-resources",
        action="store_true",
        help="request each stage's observed p95 memory (sacct MaxRSS) with headroom",
    )


SUBMIT_HELP = """\
Pack the sweep into Slurm job arrays that fit the site, submit them chained by Slurm
(afterok, or aftercorr where a level maps task to task onto the one before) and exit: nothing
stays on the login node. Site limits (MaxArraySize, MaxJobCount, MaxSubmitJobs of the
association and QOS, jobs already queued) are read with scontrol and sacctmgr; tasks are sized
from recorded stage times towards target_task_minutes (cfcompile.yaml); a task killed for
TIMEOUT or OUT_OF_MEMORY is resubmitted once with twice the time or memory by a small retry
job submitted with the arrays.

Site settings live in cluster_profiles/slurm/cfcompile.yaml (`cfcompile --init-profile .`
copies it into the project): account, partition, qos, constraint, reservation, sbatch_extra,
log_dir, prologue (module load ..., source .venv/bin/activate), python, per-stage overrides.
The options below override it.

  cfcompile EXP -p PARAMS --submit slurm --dry-run   the sbatch requests, nothing submitted
  cfcompile EXP -p PARAMS --submit slurm             submit and exit
  cfcompile EXP -p PARAMS --status                   state, retries, used vs requested
  cfcompile EXP -p PARAMS --cancel                   scancel what this workflow submitted
"""


def build_submit_parser() -> argparse.ArgumentParser:
    """``--submit slurm --help``: the options that matter when submitting, and nothing else."""
    p = Parser(
        prog="cfcompile",
        usage="cfcompile EXPERIMENT -p PARAMS --submit {slurm,local} [--dry-run] [options]",
        description=SUBMIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dry-run", action="store_true", help="print the sbatch requests only")
    p.add_argument(
        "--batch",
        type=batch_arg,
        default="auto",
        metavar="K",
        help="chains (parameter sets) per array task; default auto: from recorded stage "
        "times towards the target task length; packed further when a site limit requires",
    )
    p.add_argument("--profile", metavar="DIR", help="profile folder or name (default slurm)")
    add_slurm_options(p.add_argument_group("site (overrides cfcompile.yaml)"))
    return p


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
        "modes (one at most, but --submit takes --dry-run; without one, the Snakefile is printed)"
    )
    exclusive = modes.add_mutually_exclusive_group()
    exclusive.add_argument(
        "--eager", action="store_true", help="run in this process, like curifactory"
    )
    exclusive.add_argument("--run", action="store_true", help="compile, then run it with Snakemake")
    exclusive.add_argument(
        "--submit",
        choices=("slurm", "local"),
        help="submit job arrays through submitit and exit (local: run them here); "
        "`--submit slurm --help` for its options",
    )
    exclusive.add_argument(
        "--cancel", action="store_true", help="scancel what this workflow submitted"
    )
    exclusive.add_argument(
        "--status", action="store_true", help="done/queued/running/failed per node"
    )
    modes.add_argument(
        "--dry-run",
        action="store_true",
        help="what would run and why (no Snakemake); with --submit: the sbatch requests",
    )
    exclusive.add_argument(
        "--dag",
        nargs="?",
        const="dot",
        choices=("dot", "mermaid", "svg", "png", "graphml", "json"),
        help="the stage DAG (default dot); svg/png are written to -o or the workflow dir; "
        "graphml/json are the graph as data (every node, or one per stage with --dag-level "
        "stages)",
    )
    exclusive.add_argument(
        "--report", action="store_true", help="write a self-contained HTML report (-o FILE)"
    )
    exclusive.add_argument(
        "--results", action="store_true", help="collect and print the results table"
    )
    run = p.add_argument_group("running (arguments after -- go to snakemake)")
    run.add_argument(
        "--cores",
        default=None,
        help="with --run: local cores (default: all); with --dry-run: the cores to estimate for",
    )
    run.add_argument(
        "--profile",
        metavar="DIR",
        help="Snakemake profile: a directory, or a name: PROJECT/cluster_profiles/NAME, else "
        "the bundled 'local' or 'slurm'",
    )
    add_slurm_options(p.add_argument_group("on Slurm (--submit slurm, --run --profile slurm)"))
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
        "--asc",
        action="store_true",
        help="with --results --best: smallest first (default for --best: from the metric's "
        "name, lowest first for loss/error/mse-like names, else highest)",
    )
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
    look.add_argument(
        "--best",
        action="store_true",
        help="with --results: the top configurations by mean ± std over repetitions (by "
        "--sort METRIC, else the first metric; --top N, default 5)",
    )
    look.add_argument(
        "--over",
        type=column_list,
        metavar="FIELD",
        help="with --results --best or --report: the repetition fields (default: seed-like "
        "names: seed, rep, trial, ...)",
    )
    look.add_argument(
        "--format",
        choices=("table", "csv", "json", "md"),
        default="table",
        help="with --results: print as a table (default), CSV, JSON or Markdown",
    )
    p.add_argument(
        "--rerun-changed-code",
        action="store_true",
        help="rerun cached nodes whose stage code changed since their cache was written "
        "(by default they stay cached, as in curifactory; --dry-run names them)",
    )
    p.add_argument(
        "--reuse",
        action="store_true",
        help="also merge stages that declare no uses=[...]: a node copies an earlier node's "
        "outputs when it agrees with it on every field that node was seen to read (only for "
        "deterministic stages; docs/semantics.md)",
    )
    p.add_argument(
        "--no-reuse",
        action="store_true",
        help="compute every node itself: no set copies the outputs of a stage that declares "
        "uses=[...] from another set that agrees on those parameters (docs/semantics.md)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return p
