from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import settings_table  # noqa: E402


def test_configuration_table_matches_the_settings_classes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_table.render(readme) == readme, "run `make docs` to refresh README.md's configuration table"


def test_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme
    assert "make test" in readme
