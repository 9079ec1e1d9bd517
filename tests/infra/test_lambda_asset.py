"""The function's asset: runtime code only, built without Docker, importable on its runtime."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
from infra.lambda_asset import (
    LAMBDA_TARGET,
    PROVIDED_BY_RUNTIME,
    PROVIDED_TOP_LEVEL,
    build_asset,
    host_target,
    runtime_provided,
    runtime_requirements,
)

HOST = host_target()
NOT_RUNTIME = (
    "aws_cdk",
    "cdk_nag",
    "constructs",
    "jsii",
    "infra",
    "orderflow_cli",
    "orderflow_local",
    "moto",
    "typer",
    "rich",
)


@pytest.fixture(scope="module")
def deployed() -> Path:
    return build_asset(LAMBDA_TARGET)


@pytest.fixture(scope="module")
def host_build() -> Path:
    return build_asset(HOST)


def test_requirements_leave_out_what_the_runtime_provides() -> None:
    requirements = runtime_requirements()
    assert any(req.startswith("aws-lambda-powertools") for req in requirements)
    assert not any(req.startswith("boto3") for req in requirements)


def test_asset_holds_the_runtime_package_and_nothing_for_development(deployed: Path) -> None:
    assert (deployed / "orderflow" / "handler.py").is_file()
    assert (deployed / "pydantic").is_dir()
    assert (deployed / "aws_lambda_powertools").is_dir()
    assert (deployed / "aws_xray_sdk").is_dir()
    present = {path.name for path in deployed.iterdir()}
    assert not present & {*NOT_RUNTIME, *PROVIDED_TOP_LEVEL}
    assert not list(deployed.rglob("__pycache__"))


def test_compiled_extensions_match_the_functions_runtime_and_architecture(deployed: Path) -> None:
    extensions = list(deployed.rglob("*.so"))
    assert extensions, "pydantic-core at least is compiled"
    for extension in extensions:
        assert extension.name.endswith(".abi3.so") or "cpython-314-aarch64-linux-gnu" in extension.name, extension


def test_every_bundled_wheel_was_built_for_the_target(deployed: Path) -> None:
    for distribution in importlib.metadata.distributions(path=[str(deployed)]):
        assert distribution.metadata["Name"].lower() not in PROVIDED_BY_RUNTIME
        wheel = distribution.read_text("WHEEL") or ""
        tags = [line.split(": ", 1)[1] for line in wheel.splitlines() if line.startswith("Tag: ")]
        assert tags, distribution.metadata["Name"]
        assert any(tag.endswith("-any") or "aarch64" in tag for tag in tags), (distribution.metadata["Name"], tags)


def test_the_handler_imports_from_an_asset_built_the_same_way(host_build: Path, tmp_path: Path) -> None:
    # Given only what Lambda has: the asset, plus the runtime's own boto3 (taken from this venv)
    provided = runtime_provided(tmp_path / "runtime-provided")
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path[:0] = [{str(host_build)!r}, {str(provided)!r}]
        import orderflow.handler, pydantic, aws_lambda_powertools, aws_xray_sdk
        from orderflow.domain.parsing import parse_order
        order = parse_order(open({str(Path(__file__).parents[1] / "events" / "seed_order.json")!r}).read())
        print(json.dumps({{
            "handler": callable(orderflow.handler.lambda_handler),
            "order": order.order_id,
            "modules": sorted({{getattr(m, "__file__", None) or "" for m in list(sys.modules.values())}}),
        }}))
        """
    )
    # When a clean interpreter (-I: no site-packages, no user paths, no PYTHONPATH) imports it
    result = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # Then everything came from the asset, the runtime-provided boto3 or the standard library
    assert report["handler"] is True
    assert report["order"] == "ORD-20260420-001"
    stdlib = sysconfig.get_paths()["stdlib"]
    for module_file in filter(None, report["modules"]):
        assert module_file.startswith((str(host_build), str(provided), stdlib)), module_file
