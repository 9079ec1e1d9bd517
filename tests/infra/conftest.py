"""Synthesize the stack once per stage for the whole session (cdk-nag validations included)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk.assertions import Template
from infra.app import build_app, template_path

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


def _synth(stage: str, outdir: Path, **topology: str) -> Synthesized:
    app, _ = build_app(context={"stage": stage, **topology}, outdir=str(outdir))
    app.synth()  # runs cdk-nag's AwsSolutions and Serverless packs; raises on any unacknowledged finding
    path = template_path(outdir)
    return Synthesized(stage=stage, path=path, json=json.loads(path.read_text()))


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synth("dev", tmp_path_factory.mktemp("cdk-dev"))


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synth("prod", tmp_path_factory.mktemp("cdk-prod"))


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


# The topologies (-c fifo=true, -c fanout=true, both), on the dev stage.


@pytest.fixture(scope="session")
def fifo(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synth("dev", tmp_path_factory.mktemp("cdk-fifo"), fifo="true")


@pytest.fixture(scope="session")
def fanout(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synth("dev", tmp_path_factory.mktemp("cdk-fanout"), fanout="true")


@pytest.fixture(scope="session")
def fifo_fanout(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synth("dev", tmp_path_factory.mktemp("cdk-fifo-fanout"), fifo="true", fanout="true")


@pytest.fixture(scope="session", params=["fifo", "fanout", "fifo_fanout"])
def topology(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture(scope="session", params=["dev", "prod", "fifo", "fanout", "fifo_fanout"])
def any_stack(request: pytest.FixtureRequest) -> Synthesized:
    """Every stage and every topology: what the gates (cdk-nag, cfn-lint, checkov) must pass."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]
