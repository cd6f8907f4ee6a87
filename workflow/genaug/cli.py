"""`genaug <stage> ...`: the one entry point the Snakemake rules call.

Each stage takes explicit input and output paths and the cell's parameters, so it runs and is
tested without Snakemake. Errors meant for the user print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import sys

from . import __version__
from .errors import GenaugError


def build_parser(stage_named: str | None = None) -> argparse.ArgumentParser:
    """The command line: one subcommand per stage of the registry (genaug/stage_registry.py). Only
    `stage_named`'s function is imported (its help shows the function's defaults); the others stay unloaded."""
    from .stage_registry import LOG, OWN_PARSERS, STAGES

    p = argparse.ArgumentParser(prog="genaug", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"genaug {__version__}", help="print genaug's version")
    sub = p.add_subparsers(dest="stage", required=True, metavar="<stage>")
    for stage in STAGES.values():
        s = sub.add_parser(stage.name, help=stage.help, description=stage.help)
        defaults = ({k: v.default for k, v in inspect.signature(stage.function()).parameters.items()}
                    if stage.name == stage_named else {})
        for option in (LOG, *stage.options):
            s.add_argument(*option.flags, **_without_own_default(option, defaults))
    for name, (_, help_) in OWN_PARSERS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return p


def _without_own_default(option, defaults: dict) -> dict:
    """An optional flag left out is not passed (its function's default applies); its help names that default."""
    from .stage_registry import dest

    kwargs = dict(option.kwargs)
    if kwargs.get("required") or "default" in kwargs or not option.flags[0].startswith("-"):
        return kwargs
    kwargs["default"] = argparse.SUPPRESS
    default = defaults.get(dest(option), inspect.Parameter.empty)
    if default not in (inspect.Parameter.empty, None) and "default:" not in kwargs.get("help", ""):
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        kwargs["help"] = f"{kwargs.get('help', '')} (default: {shown})"
    return kwargs


def run(args: argparse.Namespace, log) -> None:
    """Call the stage's function with its flags as keyword arguments (and the log, where it takes one)."""
    from .stage_registry import STAGES, dest

    stage = STAGES[args.stage]
    function = stage.function()
    kwargs = {dest(o): getattr(args, dest(o)) for o in stage.options if not o.cli_only and hasattr(args, dest(o))}
    if "log" in inspect.signature(function).parameters:
        kwargs["log"] = log
    result = function(**kwargs)
    if stage.done:
        print(stage.done.format(n=len(result) if result is not None else 0, out=kwargs.get("out")), file=log)


def main(argv: list[str] | None = None) -> int:
    from .stage_registry import OWN_PARSERS

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in OWN_PARSERS:  # subcommands with options of their own (genaug bench --help)
        module, name = OWN_PARSERS[argv[0]][0].split(":")
        try:
            return getattr(importlib.import_module(f"genaug.{module}"), name)(argv[1:])
        except GenaugError as err:
            print(f"genaug {argv[0]}: error: {err}", file=sys.stderr)
            return 2
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    from .process import die_with_snakemake, exclusive

    die_with_snakemake()
    if getattr(args, "mem_mb", 0):
        from .memory import guard

        guard(args.mem_mb, _memory_setting(args), args.stage)
    with contextlib.ExitStack() as held:
        try:  # before the log is opened: a refused second process must not truncate the running one's log
            if getattr(args, "snapshot", None):
                held.enter_context(exclusive(args.snapshot, f"{args.stage} for {args.out}"))
        except GenaugError as err:
            print(f"genaug {args.stage}: error: {err}", file=sys.stderr)
            return 2
        return _run_logged(args)


def _memory_setting(args) -> str:
    """The config field that sizes a job's memory, named in the memory guard's error."""
    if args.stage == "train_gen" and isinstance(getattr(args, "spec", None), dict):
        train = args.spec.get("train") or {}
        name = args.spec.get("name", "?")
        return (f"models.{name}.batch_size = {train.get('batch_size', '?')} or the network's size "
                f"(models.{name}.hparams)")
    if args.stage == "train_clf" and isinstance(getattr(args, "classifier", None), dict):
        train = args.classifier.get("train") or {}
        return f"classifiers.{args.classifier.get('name', '?')}.batch_size = {train.get('batch_size', '?')}"
    return f"the {args.stage} job's batch and set sizes"


def _run_logged(args) -> int:
    """Run a stage with its log file; a GenaugError becomes its message and exit status 2."""
    log = sys.stderr
    try:
        if args.log:
            from pathlib import Path

            Path(args.log).parent.mkdir(parents=True, exist_ok=True)
            log = open(args.log, "w", buffering=1, encoding="utf-8", errors="backslashreplace")
        run(args, log)
    except GenaugError as err:
        message = f"genaug {args.stage}: error: {err}"
        if log is not sys.stderr:
            print(message, file=log)
        print(message, file=sys.stderr)
        return 2
    except BaseException:
        if log is not sys.stderr:
            import traceback

            traceback.print_exc(file=log)
        raise
    finally:
        if log is not sys.stderr:
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
