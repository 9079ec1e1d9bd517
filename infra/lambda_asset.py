"""Build the Lambda function's asset without Docker.

The asset is the runtime package (``src/orderflow``) plus its third-party dependencies,
installed by pip from wheels for the function's runtime and architecture
(``--platform manylinux2014_aarch64 --python-version 3.14 --only-binary=:all:``), so it
can be built on any machine. Nothing else goes in: no CDK, no CLI, no local emulator.
Packages the Lambda Python runtime already provides (boto3 and its dependencies) are
left out, as the seed leaves out ``@aws-sdk/*``.

The asset carries its bytecode, compiled by an interpreter of the runtime's Python version
(``ORDERFLOW_LAMBDA_PYTHON``, else ``python3.14`` on PATH) with hash-based invalidation:
Lambda's code directory is read-only, so without it every cold start compiles every module
it imports, again. Without such an interpreter the asset is built without bytecode and a
``MissingBytecodeWarning`` says what that costs; see ``docs/decisions.md``.

Builds are cached under ``build/lambda/`` by a hash of their inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "orderflow"
BUILD_DIR = ROOT / "build" / "lambda"

#: Distributions the Lambda Python runtime ships; bundling them would only add size.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"})
#: Distributions only the `orderflow` command uses (pyproject.toml lists them so that
#: `pip install orderflow` gives a working command); the function never imports them.
CLI_ONLY = frozenset({"typer", "rich"})


#: An interpreter of the function's Python version, to compile the asset's bytecode with.
BYTECODE_PYTHON = "ORDERFLOW_LAMBDA_PYTHON"


class AssetBuildError(RuntimeError):
    """The function's asset could not be built (dependencies or bytecode)."""


class MissingBytecodeWarning(UserWarning):
    """The asset was built without bytecode: each cold start compiles what it imports."""


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where the asset runs: a pip platform tag and a CPython version."""

    platform: str
    python_version: str

    @property
    def abi_tag(self) -> str:
        """CPython's tag for this version, as in extension and bytecode file names."""
        return "cpython-" + self.python_version.replace(".", "")


#: The deployed function: Python 3.14 on arm64 (Graviton).
LAMBDA_TARGET = Target(platform="manylinux2014_aarch64", python_version="3.14")


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The project's runtime dependencies, less those the Lambda runtime provides and the CLI's."""
    dependencies: list[str] = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [req for req in dependencies if _distribution_name(req) not in PROVIDED_BY_RUNTIME | CLI_ONLY]


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
    """The package's modules and its data files (the Notifier's e-mail templates)."""
    return sorted(
        path
        for path in SOURCE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and (path.suffix == ".py" or "templates" in path.parts)
    )


def build_dependencies(target: Target, *, build_dir: Path = BUILD_DIR) -> Path:
    """Install the runtime dependencies for ``target`` into a cached folder; return it."""
    requirements = runtime_requirements()
    key = _digest(target.platform.encode(), target.python_version.encode(), *(r.encode() for r in requirements))
    folder = build_dir / f"deps-{key}"
    if folder.is_dir():
        return folder
    staging = _staging(build_dir, f".deps-{key}-")
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
    return _publish(staging, folder)


def _staging(build_dir: Path, prefix: str) -> Path:
    """A new, empty folder of this build's own beside its destination (parallel builds,
    pytest-xdist's workers say, each get theirs)."""
    build_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, suffix=".partial", dir=build_dir))


def _publish(staging: Path, folder: Path) -> Path:
    """Rename a finished build into place in one step; when a parallel build of the same
    inputs got there first, theirs stands (it is the same) and ours is dropped."""
    try:
        staging.rename(folder)
    except OSError:
        if not folder.is_dir():
            raise
        shutil.rmtree(staging, ignore_errors=True)
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


def bytecode_compiler(target: Target) -> str | None:
    """An interpreter that writes bytecode for ``target``'s runtime, or None if there is none.

    This interpreter when it is the target's version; else ``$ORDERFLOW_LAMBDA_PYTHON`` when
    set (then it must be CPython of that version: a build that asked for bytecode never
    silently ships without it); else ``python3.X`` on PATH.
    """
    if sys.implementation.cache_tag == target.abi_tag:
        return sys.executable
    chosen = os.environ.get(BYTECODE_PYTHON)
    for candidate in [chosen] if chosen else [f"python{target.python_version}"]:
        path = shutil.which(candidate)
        tag = _cache_tag(path) if path else None
        if tag == target.abi_tag:
            return path
        if chosen:
            found = f"is {tag}" if tag else "was not found"
            raise AssetBuildError(
                f"{BYTECODE_PYTHON}={chosen} {found}, but the function runs {target.abi_tag}: "
                f"point it at a Python {target.python_version} interpreter, or unset it to build without bytecode."
            )
    return None


def _cache_tag(python: str) -> str | None:
    try:
        result = subprocess.run(  # noqa: S603 - an interpreter path, no shell
            [python, "-I", "-c", "import sys; print(sys.implementation.cache_tag)"],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def _compile_bytecode(python: str, folder: Path) -> None:
    # unchecked-hash: the runtime loads the .pyc without reading or stat-ing the source (the
    # zip's timestamps are not the build's, so timestamp-checked bytecode would be ignored).
    command = [python, "-I", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own argv
    if result.returncode != 0:
        raise AssetBuildError(f"compiling the asset's bytecode with {python} failed:\n{result.stdout}{result.stderr}")


def build_asset(target: Target = LAMBDA_TARGET, *, build_dir: Path = BUILD_DIR) -> Path:
    """Build (or reuse) the function's asset folder for ``target`` and return its path."""
    dependencies = build_dependencies(target, build_dir=build_dir)
    sources = _source_files()
    compiler = bytecode_compiler(target)
    if compiler is None:
        warnings.warn(
            f"No Python {target.python_version} interpreter found, so the function's asset carries no "
            f"bytecode and every cold start compiles each module it imports (about 1.5x the import "
            f"time: `orderflow bench cold-start`). Install Python {target.python_version} or set "
            f"{BYTECODE_PYTHON} to one before deploying; the deploy workflow does.",
            MissingBytecodeWarning,
            stacklevel=2,
        )
    key = _digest(
        (target.abi_tag if compiler else "no-bytecode").encode(),
        dependencies.name.encode(),
        *(bytes(str(path.relative_to(SOURCE)), "utf-8") + path.read_bytes() for path in sources),
    )
    prefix = f"asset-{dependencies.name.removeprefix('deps-')}-"
    folder = build_dir / f"{prefix}{key}"
    if folder.is_dir():
        return folder
    for stale in build_dir.glob(f"{prefix}*"):  # earlier sources on the same dependencies
        shutil.rmtree(stale, ignore_errors=True)
    staging = _staging(build_dir, f".asset-{key}-")
    shutil.copytree(dependencies, staging, dirs_exist_ok=True)
    for path in sources:
        destination = staging / "orderflow" / path.relative_to(SOURCE)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    if compiler:
        _compile_bytecode(compiler, staging)
    return _publish(staging, folder)


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
            with contextlib.suppress(FileExistsError):  # a parallel caller made the same link
                link.symlink_to(source)
    return folder


def host_target() -> Target:
    """This machine as a target, to build an asset that can be imported here."""
    import platform

    return Target(
        platform=f"manylinux2014_{platform.machine()}", python_version=f"{sys.version_info[0]}.{sys.version_info[1]}"
    )
