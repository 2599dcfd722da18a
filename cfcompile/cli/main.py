"""The ``cfcompile`` command: ``cfcompile ls`` and ``cfcompile EXPERIMENT -p PARAMS [mode]``.

The options are in ``cli.options`` (what they mean together: ``cli.parsed``); here each mode
is dispatched to its module, and a failure is reported so that the documented pipe into
Snakemake fails too.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import traceback

from cfcompile.cli.options import build_parser, build_submit_parser
from cfcompile.cli.parsed import check_companions, check_modes
from cfcompile.core import gc_pace
from cfcompile.errors import CfcompileError, StageDefinitionError

log = logging.getLogger("cfcompile")


def main(argv: list[str] | None = None) -> int:
    """The console script. Run as a command (``argv`` None), the objects it made are frozen
    out of the garbage collector before the interpreter exits: the final collection over an
    imported scikit-learn or torch otherwise costs 0.1-0.4 s after the work is done."""
    if argv is not None:
        return _main(list(argv))
    try:
        return _main(sys.argv[1:])
    finally:
        gc.freeze()


def _main(argv: list[str]) -> int:
    parser = build_parser()
    if not argv:  # a first look, not a mistake: show what there is to do
        parser.print_help()
        return 0
    if argv[0] == "--init-profile":  # no experiment: copies the profiles into a project
        return init_profile(argv[1:])
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    if {"-h", "--help"} & set(argv) and any(a.startswith("--submit") for a in argv):
        build_submit_parser().print_help()
        return 0
    args = parser.parse_args(argv)
    args.snakemake_args = extra
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    # cfcompile's own messages at the level asked for; other libraries' (numexpr's "INFO
    # NumExpr defaulting to 2 threads" at every import) only from warnings up, or with -v
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(message)s", stream=sys.stderr)  # fmt: skip
    logging.getLogger("cfcompile").setLevel(level)
    check_modes(parser, args, argv)
    if args.snakemake_args and not args.run:
        parser.error("arguments after -- are passed to snakemake and need --run")
    check_companions(parser, args)
    if not args.eager:  # an eager run runs stages here: they get a fresh interpreter's pace
        gc_pace.compile_pace()
    return dispatch(args)


def dispatch(args: argparse.Namespace) -> int:
    """Run the one mode asked for (compiling by default); report failures as ``failed`` does."""
    # after parsing: --help stays fast
    from cfcompile.cli import compile_modes, run_modes, view_modes

    modes = (  # one at most (check_modes); compiling is the default
        (args.submit, run_modes.cmd_submit),  # before --dry-run: --submit --dry-run previews
        (args.eager, compile_modes.cmd_eager),
        (args.dry_run, compile_modes.cmd_dry_run),
        (args.dag, compile_modes.cmd_dag),
        (args.report, view_modes.cmd_report),
        (args.results, view_modes.cmd_results),
        (args.run, run_modes.cmd_run),
        (args.cancel, run_modes.cmd_cancel),
        (args.status, view_modes.cmd_status),
    )
    try:
        if args.experiment == "ls":
            return compile_modes.cmd_ls(args)
        for wanted, command in modes:
            if wanted:
                return command(args)
        return compile_modes.cmd_compile(args)
    except StageDefinitionError as exc:  # a stage broke a rule (a write, an undeclared read)
        return failed(args, f"cfcompile: error: {type(exc).__name__}: {exc}")
    except CfcompileError as exc:
        return failed(args, f"cfcompile: error: {exc}")
    except BrokenPipeError:  # whatever reads the Snakefile left before reading it
        return failed(
            args,
            "cfcompile: error: the command reading the Snakefile exited before reading all "
            "of it (its own message above says why)",
        )
    except OSError as exc:  # an unwritable, missing or full folder: name it, no traceback
        where = exc.filename or "a file"
        return failed(args, f"cfcompile: error: cannot use {where}: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - the researcher's code raised while traced
        traceback.print_exc()
        return failed(args, f"cfcompile: error: {type(exc).__name__}: {exc} (traceback above)")


def init_profile(rest: list[str]) -> int:
    """``cfcompile --init-profile [DIR]``: copy the bundled profiles into DIR (default .)."""
    if len(rest) > 1 or (rest and rest[0].startswith("-")):
        print("usage: cfcompile --init-profile [DIR]", file=sys.stderr)
        return 2
    from cfcompile.cli import run_modes  # as for the modes: --help stays fast

    try:
        return run_modes.cmd_init_profile(rest[0] if rest else ".")
    except (CfcompileError, OSError) as exc:
        print(f"cfcompile: error: {exc}", file=sys.stderr)
        return 2


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
            args.cancel,
            args.status,
            args.experiment == "ls",
        )
    )
    if compiling and not args.output and not sys.stdout.isatty():
        try:
            sys.stdout.write(
                "# cfcompile could not compile this workflow (its message is on stderr too).\n"
                f"raise Exception({message!r})\n"
            )
            sys.stdout.flush()
        except OSError:  # no reader any more (a closed pipe): stderr has the message
            from cfcompile.cli.compile_modes import release_stdout  # only on this path

            release_stdout()
    return 2
