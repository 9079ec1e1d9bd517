"""The function's asset: runtime code only, built without Docker, importable on its runtime."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
from infra.lambda_asset import (
    BYTECODE_PYTHON,
    LAMBDA_TARGET,
    PROVIDED_BY_RUNTIME,
    PROVIDED_TOP_LEVEL,
    AssetBuildError,
    MissingBytecodeWarning,
    _compile_bytecode,
    build_asset,
    bytecode_compiler,
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
    assert not any(req.startswith(("typer", "rich")) for req in requirements)  # the CLI's, not the function's


def test_asset_holds_the_runtime_package_and_nothing_for_development(deployed: Path) -> None:
    assert (deployed / "orderflow" / "handler.py").is_file()
    assert (deployed / "pydantic").is_dir()
    assert (deployed / "aws_lambda_powertools").is_dir()
    assert (deployed / "aws_xray_sdk").is_dir()
    present = {path.name for path in deployed.iterdir()}
    assert not present & {*NOT_RUNTIME, *PROVIDED_TOP_LEVEL}
    # bytecode only for the function's runtime (none at all when no Python 3.14 was at hand)
    for compiled in deployed.rglob("*.pyc"):
        assert compiled.name.endswith(f".{LAMBDA_TARGET.abi_tag}.pyc"), compiled


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


def _run_as_lambda(script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a clean interpreter (-I: no site-packages, no user paths, no
    PYTHONPATH) that writes no bytecode (-B: Lambda's code directory is read-only)."""
    return subprocess.run([sys.executable, "-I", "-S", "-B", "-c", script], capture_output=True, text=True, check=False)


def test_the_handler_imports_from_an_asset_built_the_same_way(host_build: Path, tmp_path: Path) -> None:
    # Given only what Lambda has: the asset, plus the runtime's own boto3 (taken from this venv)
    provided = runtime_provided(tmp_path / "runtime-provided")
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path[:0] = [{str(host_build)!r}, {str(provided)!r}]
        import orderflow.handler, pydantic, aws_lambda_powertools, aws_xray_sdk
        from orderflow.domain.models import OrderCreated
        from orderflow.domain.parsing import load_json_object, validate
        seed = open({str(Path(__file__).parents[1] / "events" / "seed_order.json")!r}).read()
        order = validate(OrderCreated, load_json_object(seed))
        print(json.dumps({{
            "handler": callable(orderflow.handler.lambda_handler),
            "order": order.order_id,
            "modules": sorted({{getattr(m, "__file__", None) or "" for m in list(sys.modules.values())}}),
        }}))
        """
    )
    # When a clean interpreter imports it as Lambda does
    result = _run_as_lambda(script)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # Then everything came from the asset, the runtime-provided boto3 or the standard library
    assert report["handler"] is True
    assert report["order"] == "ORD-20260420-001"
    stdlib = sysconfig.get_paths()["stdlib"]
    for module_file in filter(None, report["modules"]):
        assert module_file.startswith((str(host_build), str(provided), stdlib)), module_file


def _pyc_flags(source: Path) -> int:
    compiled = Path(importlib.util.cache_from_source(str(source)))
    assert compiled.is_file(), f"no bytecode for {source}"
    return int.from_bytes(compiled.read_bytes()[4:8], "little")


def test_the_asset_carries_bytecode_the_runtime_loads_without_checking_sources(host_build: Path) -> None:
    # Lambda cannot write bytecode into its read-only code directory: it must ship with it.
    for module in ("orderflow/handler.py", "orderflow/domain/models.py", "pydantic/main.py"):
        # PEP 552 flags: bit 0 = hash-based, bit 1 = check the source. Hash-based because a
        # zip's timestamps are not the build's; unchecked so no source is read at import.
        assert _pyc_flags(host_build / module) == 0b01, module


def test_shipped_bytecode_is_what_runs(host_build: Path, tmp_path: Path) -> None:
    # Given an asset whose source for one module no longer matches its bytecode
    asset = shutil.copytree(host_build, tmp_path / "asset", symlinks=True)
    (asset / "orderflow" / "domain" / "retry.py").write_text("raise SystemExit('the source was compiled at import')\n")
    provided = runtime_provided(tmp_path / "runtime-provided")
    script = f"import sys; sys.path[:0] = [{str(asset)!r}, {str(provided)!r}]; import orderflow.handler"
    # When the handler is imported as Lambda does
    result = _run_as_lambda(script)
    # Then the shipped bytecode ran, not the source
    assert result.returncode == 0, result.stderr


def test_without_an_interpreter_of_the_runtimes_version_the_asset_has_no_bytecode_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(BYTECODE_PYTHON, raising=False)
    monkeypatch.setenv("PATH", "")  # no python3.14 to find
    assert bytecode_compiler(LAMBDA_TARGET) is None
    with pytest.warns(MissingBytecodeWarning, match=f"Install Python 3.14 or set {BYTECODE_PYTHON}"):
        asset = build_asset(LAMBDA_TARGET)
    assert not list(asset.rglob("*.pyc"))


def test_this_interpreter_compiles_for_an_asset_of_its_own_version(monkeypatch: pytest.MonkeyPatch) -> None:
    # even where ORDERFLOW_LAMBDA_PYTHON names the runtime's interpreter (the deploy workflow)
    monkeypatch.setenv(BYTECODE_PYTHON, "/nonexistent/python3.14")
    assert bytecode_compiler(HOST) == sys.executable


@pytest.mark.parametrize(
    ("interpreter", "says"),
    [(sys.executable, f"is {sys.implementation.cache_tag}"), ("/nonexistent/python3.14", "was not found")],
)
def test_a_named_interpreter_of_the_wrong_version_is_refused(
    monkeypatch: pytest.MonkeyPatch, interpreter: str, says: str
) -> None:
    # A deploy that asked for bytecode must not ship without it, or with bytecode Lambda ignores
    monkeypatch.setenv(BYTECODE_PYTHON, interpreter)
    with pytest.raises(AssetBuildError, match=f"{says}, but the function runs cpython-314"):
        build_asset(LAMBDA_TARGET)


def test_a_module_that_does_not_compile_fails_the_build_naming_it(tmp_path: Path) -> None:
    # A wheel whose source the runtime's Python cannot compile would fail at import in Lambda
    (tmp_path / "fine.py").write_text("x = 1\n")
    (tmp_path / "broken.py").write_text("def broken(:\n")
    with pytest.raises(AssetBuildError, match=r"compiling the asset's bytecode .* failed:(.|\n)*broken\.py"):
        _compile_bytecode(sys.executable, tmp_path)


def test_a_build_finished_second_leaves_the_first_in_place(tmp_path: Path) -> None:
    """Two parallel builds of the same inputs (pytest-xdist's workers): the first renamed into
    place stands, the second's staging folder is dropped, and nothing half-built is visible."""
    from infra.lambda_asset import _publish, _staging

    destination = tmp_path / "asset-x"
    first, second = _staging(tmp_path, ".asset-x-"), _staging(tmp_path, ".asset-x-")
    assert first != second  # each build stages in a folder of its own
    (first / "built-by").write_text("first")
    (second / "built-by").write_text("second")
    assert _publish(first, destination) == destination
    assert _publish(second, destination) == destination
    assert (destination / "built-by").read_text() == "first"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["asset-x"]
