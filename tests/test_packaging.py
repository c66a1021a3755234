"""Installing cupctl stays quiet: no deprecated pyproject fields."""

import sys

from tests.conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def test_license_is_an_spdx_string_not_the_deprecated_table():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"  # setuptools warns on every install about {text = ...}
