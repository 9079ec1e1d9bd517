"""Build the Lambda function's asset without Docker.

The asset is the runtime package (``src/orderflow``) plus its third-party dependencies,
installed by pip from wheels for the function's runtime and architecture
(``--platform manylinux2014_aarch64 --python-version 3.14 --only-binary=:all:``), so it
can be built on any machine. Nothing else goes in: no CDK, no CLI, no local emulator.
Packages the Lambda Python runtime already provides (boto3 and its dependencies) are
left out, as the seed leaves out ``@aws-sdk/*``.

Builds are cached under ``build/lambda/`` by a hash of their inputs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "orderflow"
BUILD_DIR = ROOT / "build" / "lambda"

#: Distributions the Lambda Python runtime ships; bundling them would only add size.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"})


class AssetBuildError(RuntimeError):
    """pip could not build the function's dependencies."""


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where the asset runs: a pip platform tag and a CPython version."""

    platform: str
    python_version: str

    @property
    def abi_tag(self) -> str:
        return "cpython-" + self.python_version.replace(".", "")


#: The deployed function: Python 3.14 on arm64 (Graviton).
LAMBDA_TARGET = Target(platform="manylinux2014_aarch64", python_version="3.14")


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The project's runtime dependencies, less those the Lambda runtime provides."""
    dependencies: list[str] = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [req for req in dependencies if _distribution_name(req) not in PROVIDED_BY_RUNTIME]


def _distribution_name(requirement: str) -> str:
    for separator in "[=<>!~; ":
        requirement = requirement.split(separator, 1)[0]
    return requirement.strip().lower()


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _source_files() -> list[Path]:
    return sorted(path for path in SOURCE.rglob("*.py") if "__pycache__" not in path.parts)


def build_dependencies(target: Target, *, build_dir: Path = BUILD_DIR) -> Path:
    """Install the runtime dependencies for ``target`` into a cached folder; return it."""
    requirements = runtime_requirements()
    key = _digest(target.platform.encode(), target.python_version.encode(), *(r.encode() for r in requirements))
    folder = build_dir / f"deps-{key}"
    if folder.is_dir():
        return folder
    staging = build_dir / f".deps-{key}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--target", str(staging),
        "--platform", target.platform,
        "--implementation", "cp",
        "--python-version", target.python_version,
        "--only-binary=:all:",
        *requirements,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own argv
    if result.returncode != 0:
        raise AssetBuildError(
            f"pip could not install the function's dependencies for {target.platform} / Python "
            f"{target.python_version}:\n{result.stderr.strip()}\n"
            "Check your network access to PyPI, or that every dependency publishes a wheel for that platform."
        )
    _remove_provided_by_runtime(staging)
    shutil.rmtree(staging / "bin", ignore_errors=True)  # console scripts: nothing runs them in Lambda
    for cache in staging.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    staging.rename(folder)
    return folder


def _remove_provided_by_runtime(site: Path) -> None:
    for distribution in importlib.metadata.distributions(path=[str(site)]):
        if distribution.metadata["Name"].lower() not in PROVIDED_BY_RUNTIME:
            continue
        for file in distribution.files or []:
            (site / file).unlink(missing_ok=True)
    for folder in sorted(site.iterdir()):
        if folder.is_dir() and not any(path.is_file() for path in folder.rglob("*")):
            shutil.rmtree(folder)


def build_asset(target: Target = LAMBDA_TARGET, *, build_dir: Path = BUILD_DIR) -> Path:
    """Build (or reuse) the function's asset folder for ``target`` and return its path."""
    dependencies = build_dependencies(target, build_dir=build_dir)
    sources = _source_files()
    key = _digest(
        dependencies.name.encode(),
        *(bytes(str(path.relative_to(SOURCE)), "utf-8") + path.read_bytes() for path in sources),
    )
    prefix = f"asset-{dependencies.name.removeprefix('deps-')}-"
    folder = build_dir / f"{prefix}{key}"
    if folder.is_dir():
        return folder
    for stale in build_dir.glob(f"{prefix}*"):  # earlier sources on the same dependencies
        shutil.rmtree(stale, ignore_errors=True)
    staging = build_dir / f".asset-{key}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(dependencies, staging)
    for path in sources:
        destination = staging / "orderflow" / path.relative_to(SOURCE)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    staging.rename(folder)
    return folder


#: Top-level modules of the distributions in ``PROVIDED_BY_RUNTIME``.
PROVIDED_TOP_LEVEL = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")


def runtime_provided(folder: Path) -> Path:
    """A folder standing in for what the Lambda runtime provides (boto3 and its dependencies),
    linked from this interpreter's packages: with an asset, what a function can import."""
    import sysconfig

    folder.mkdir(parents=True, exist_ok=True)
    site = Path(sysconfig.get_paths()["purelib"])
    for name in PROVIDED_TOP_LEVEL:
        source, link = site / name, folder / name
        if source.exists() and not link.exists():
            link.symlink_to(source)
    return folder


def host_target() -> Target:
    """This machine as a target, to build an asset that can be imported here."""
    import platform

    return Target(
        platform=f"manylinux2014_{platform.machine()}", python_version=f"{sys.version_info[0]}.{sys.version_info[1]}"
    )
