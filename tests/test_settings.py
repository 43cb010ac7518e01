"""The README's settings table and the Settings class describe the same variables."""

from __future__ import annotations

import re

from service.config import Settings
from tests.factories import ROOT


def test_readme_documents_every_setting_and_no_other() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| variable | default | meaning |") :]
    table = table[: table.index("\n\n")]
    documented = {name.lower() for name in re.findall(r"`JOBMATCH_([A-Z0-9_]+)`", table)}
    fields = set(Settings.model_fields)
    assert fields - documented == set(), "settings missing from the README's table"
    assert documented - fields == set(), "README documents settings that do not exist"
