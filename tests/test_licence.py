"""The course can be reused and cited: a licence for the code and one for the text, named where people look."""
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_code_and_text_are_licensed_and_named_in_the_package_and_the_footer():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "Creative Commons Attribution 4.0 International" in (ROOT / "LICENSE-CONTENT").read_text()
    licence = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
    assert "MIT" in licence and "CC-BY-4.0" in licence
    footer = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["extra_footer"]
    assert "CC BY 4.0" in footer and "MIT" in footer


def test_the_citation_file_asks_for_both_papers():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    titles = [r["title"] for r in citation["references"]]
    assert any("Not Bugs, They Are Features" in t for t in titles)
    assert any("Perceptually-Aligned Gradients" in t for t in titles)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert citation["version"] == version
