"""The project's metadata says one thing: one version in the package, pyproject.toml and CITATION.cff."""

import re

import yaml

import genaug

from .conftest import REPO


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
