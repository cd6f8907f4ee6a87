"""The project as a whole: one version everywhere, generated docs in step, every option explained, the layout
documented, short functions."""

import re

import yaml

import genaug

from .helpers import REPO


def test_the_version_is_the_same_everywhere():
    pyproject = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)[1]
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert genaug.__version__ == pyproject == str(citation["version"])
    assert citation["license"] == "MIT" and "MIT License" in (REPO / "LICENSE").read_text()


def test_docs_config_md_is_generated_from_the_schema():
    from genaug.config import schema_markdown

    page = schema_markdown(REPO / "workflow" / "schemas" / "config.schema.yaml")
    assert (REPO / "docs" / "config.md").read_text() == page, (
        "docs/config.md is stale: run `cd workflow && python -m genaug.config > ../docs/config.md`")


def test_every_cli_option_says_what_it_is_for():
    import argparse

    from genaug import bench, cli, generator_check

    missing = []

    def walk(parser, name):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for stage, sub in action.choices.items():
                    walk(sub, f"{name} {stage}")
            elif not isinstance(action, argparse._HelpAction) and not (action.help or "").strip():
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")

    walk(cli.build_parser(), "genaug")
    walk(bench.build_parser(), "genaug bench")
    walk(generator_check.build_parser(), "genaug check-generator")
    assert not missing, f"options without help text: {missing}"


def test_genaug_version_prints_the_package_version(capsys):
    import pytest

    from genaug.cli import build_parser

    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"genaug {genaug.__version__}"


def test_the_layout_in_docs_names_every_top_level_entry_and_every_module():
    """docs/development.md's layout is the map of the tree: a new file or module must appear in it."""
    import subprocess

    layout = re.search(r"## Layout\n\n```\n(.*?)```", (REPO / "docs" / "development.md").read_text(), re.S)[1]
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    if not tracked:  # not a git checkout: the files on disk
        tracked = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file() and ".venv" not in p.parts]
    top = {p.split("/")[0] for p in tracked}
    workflow = {"/".join(p.split("/")[:2]) for p in tracked if p.startswith("workflow/")}
    modules = {p.rsplit("/", 1)[1] for p in tracked
               if p.startswith("workflow/genaug/") and p.endswith(".py") and not p.endswith("__init__.py")}
    missing = [n for n in sorted(top | workflow) if n not in layout] + [m for m in sorted(modules)
                                                                      if m.removesuffix(".py") not in layout]
    assert not missing, f"docs/development.md's layout does not mention {missing}"


def test_no_function_in_the_package_is_longer_than_60_lines():
    """A function a reader can hold in mind (issue 25): split a longer one into named parts."""
    import ast

    long = []
    for path in sorted((REPO / "workflow" / "genaug").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > 60:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_no_python_line_is_longer_than_120_characters():
    """The project's line length (pyproject.toml's snakefmt setting, which the Snakefile and rules are held to
    by .ci/run) for the Python code too."""
    paths = [*(REPO / "workflow" / "genaug").rglob("*.py"), *(REPO / "tests").glob("*.py"),
             *(REPO / "scripts").glob("*.py"), *(REPO / "examples").rglob("*.py")]
    long = [f"{p.relative_to(REPO)}:{n}" for p in sorted(paths)
            for n, line in enumerate(p.read_text().splitlines(), 1) if len(line) > 120]
    assert not long, long
