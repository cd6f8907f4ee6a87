"""The README is the front page: short, its links lead somewhere, and every command in it runs.

Install commands are run by `.ci/run` (checked here to be the same), snakemake commands are planned (`-n`) on
the default config, `genaug` commands run on the shared test grid, and `pytest` is what `.ci/run` runs.
"""

import re
import shlex
import shutil
import subprocess

import pytest

from .helpers import BIN, REPO, snakemake

README = (REPO / "README.md").read_text()
CI = (REPO / ".ci" / "run").read_text()


def commands():
    """Every command line of the README's bash blocks, without its comment."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()  # the README's commands quote no '#'

            if line and not line.startswith("#"):
                out.append(line)
    return out


def of_kind(word):
    return [c for c in commands() if shlex.split(c)[0] == word or (word == "sudo" and c.startswith("sudo "))]


def test_the_readme_is_at_most_200_lines_and_every_command_is_covered_here():
    assert len(README.splitlines()) <= 200
    known = ("sudo", "python3", "pip", "snakemake", "pytest", "genaug")
    assert all(shlex.split(c)[0] in known for c in commands()), [c for c in commands()
                                                                 if shlex.split(c)[0] not in known]


def test_every_relative_link_in_the_readme_and_docs_leads_to_a_file():
    broken = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            if not (page.parent / target.split("#")[0]).exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
    assert not broken, broken


def test_the_install_commands_are_the_ones_ci_runs():
    ci = " ".join(CI.split())
    ci_extras = set(",".join(re.findall(r"\.\[([\w,]+)\]", ci)).split(","))
    for c in of_kind("sudo") + of_kind("pip"):
        for package in re.findall(r"[\w.-]+==[\w.]+|dataset-fashion-mnist", c):
            assert package in ci, f"README installs {package}; .ci/run does not"
        for extras in re.findall(r"\.\[([\w,]+)\]", c):
            assert set(extras.split(",")) <= ci_extras, f"README installs the extras {extras}; .ci/run does not"
    assert "python3 -m venv .venv" in CI and of_kind("python3") == ["python3 -m venv .venv && . .venv/bin/activate"]


def test_the_test_commands_name_real_markers():
    pyproject = (REPO / "pyproject.toml").read_text()
    for c in of_kind("pytest"):
        expression = re.search(r"-m (\"[^\"]+\"|\w+)", c)
        for marker in re.findall(r"\w+", expression[1] if expression else ""):
            assert marker in ("not", "and", "or") or f'"{marker}:' in pyproject, f"{c}: marker {marker} is unknown"
    assert re.search(r"^(GENAUG_\w+=\S+ )?pytest$", CI, re.M), ".ci/run must run the README's `pytest`"


@pytest.mark.e2e
def test_every_snakemake_command_plans_on_the_default_config(tmp_path):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    planned = of_kind("snakemake")
    assert planned
    for c in planned:
        args = [a.replace("workflow/configs/", f"{REPO}/workflow/configs/") for a in shlex.split(c)[1:]]
        r = snakemake(tmp_path, *args, "-n")
        assert r.returncode == 0, f"{c}: {r.stderr[-2000:]}"


@pytest.mark.e2e
def test_every_genaug_command_runs_on_a_finished_grid(evaluation_grid):
    ran = of_kind("genaug")
    assert any(c.startswith("genaug show") for c in ran)
    for c in ran:
        args = shlex.split(c)[1:]
        if "--cell" in args:  # the README names a cell of the default grid; this grid's sizes are smaller
            at = args.index("--cell") + 1
            assert re.fullmatch(r"balanced/n\d+", args[at]), c
            args[at] = "balanced/n100"
        r = subprocess.run([str(BIN / "genaug"), *args], cwd=evaluation_grid, capture_output=True, text=True)
        assert r.returncode == 0, f"{c}: {r.stderr[-2000:]}"
        assert "gains.csv" in r.stdout and "nothing matches" not in r.stdout, r.stdout


def test_every_measured_record_is_indexed_and_nothing_under_results_is_tracked():
    index = (REPO / "docs" / "measured" / "README.md").read_text()
    missing = [p.name for p in (REPO / "docs" / "measured").glob("20*.md") if f"]({p.name})" not in index]
    assert not missing, f"docs/measured/README.md does not list {missing}"
    tracked = subprocess.run(["git", "ls-files", "results"], cwd=REPO, capture_output=True, text=True)
    assert tracked.returncode != 0 or tracked.stdout.strip() == "", tracked.stdout
