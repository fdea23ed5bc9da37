"""dbt Explorer's twelve recommendations on a real dbt project: each case beside its compliant
twin (tests/fixtures/govern/explorer), the findings compared exactly with expected.yml."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import run

PROJECT = Path(__file__).parent / "fixtures" / "govern" / "explorer"


@pytest.fixture(scope="module")
def explorer_manifest(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("explorer") / "explorer"
    shutil.copytree(PROJECT, folder)
    run(["dbt", "parse"], cwd=folder)
    return folder / "target" / "manifest.json"


@pytest.mark.e2e
def test_the_twelve_recommendations_find_exactly_what_is_expected(explorer_manifest):
    expected = yaml.safe_load((PROJECT / "expected.yml").read_text())
    folder = explorer_manifest.parent.parent
    args = ["meshkit", "check", "--manifest", str(explorer_manifest), "--format", "sarif"]
    for rule in expected["rules"]:
        args += ["--rule", rule]
    result = run(args, cwd=folder, check=False)
    assert result.returncode == 1, result.stderr    # public_model_missing_contract is an error
    found = []       # SARIF: the format that carries each finding's file and line
    for item in json.loads(result.stdout)["runs"][0]["results"]:
        [where] = item["locations"]
        place = where["physicalLocation"]
        line = place.get("region", {}).get("startLine")
        found.append({"rule": item["ruleId"],
                      "name": where["logicalLocations"][0]["fullyQualifiedName"],
                      "at": f"{place['artifactLocation']['uri']}:{line}"})
    key = lambda f: (f["rule"], f["name"])  # noqa: E731
    assert sorted(found, key=key) == sorted(expected["findings"], key=key)
