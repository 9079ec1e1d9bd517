"""Synthesize the stack once per stage for the whole session (cdk-nag validations included)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk.assertions import Template

from tests.synth import synthesized_template

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class Synthesized:
    stage: str
    path: Path
    json: dict[str, Any]

    @property
    def template(self) -> Template:
        return Template.from_json(self.json)

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.json["Resources"].items() if value["Type"] == resource_type}

    def one(self, resource_type: str, **properties: Any) -> dict[str, Any]:
        matches = [
            resource
            for resource in self.resources(resource_type).values()
            if all(resource["Properties"].get(key) == value for key, value in properties.items())
        ]
        assert len(matches) == 1, f"expected one {resource_type} with {properties}, found {len(matches)}"
        return matches[0]


def _synth(stage: str, run_dir: Path, **topology: str) -> Synthesized:
    # cdk-nag's AwsSolutions and Serverless packs run in the synthesis and raise on any unacknowledged finding
    path = synthesized_template(run_dir, {"stage": stage, **topology})
    return Synthesized(stage=stage, path=path, json=json.loads(path.read_text()))


@pytest.fixture(scope="session")
def dev(run_dir: Path) -> Synthesized:
    return _synth("dev", run_dir)


@pytest.fixture(scope="session")
def prod(run_dir: Path) -> Synthesized:
    return _synth("prod", run_dir)


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


# The topologies (-c fifo=true, -c fanout=true, both; -c ingress=eventbridge), on the dev stage.


@pytest.fixture(scope="session")
def fifo(run_dir: Path) -> Synthesized:
    return _synth("dev", run_dir, fifo="true")


@pytest.fixture(scope="session")
def fanout(run_dir: Path) -> Synthesized:
    return _synth("dev", run_dir, fanout="true")


@pytest.fixture(scope="session")
def fifo_fanout(run_dir: Path) -> Synthesized:
    return _synth("dev", run_dir, fifo="true", fanout="true")


@pytest.fixture(scope="session")
def eventbridge(run_dir: Path) -> Synthesized:
    return _synth("dev", run_dir, ingress="eventbridge")


@pytest.fixture(scope="session", params=["fifo", "fanout", "fifo_fanout"])
def topology(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture(scope="session", params=["dev", "prod", "fifo", "fanout", "fifo_fanout", "eventbridge"])
def any_stack(request: pytest.FixtureRequest) -> Synthesized:
    """Every stage and every topology: what the gates (cdk-nag, cfn-lint, checkov) must pass."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]
