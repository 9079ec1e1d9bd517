"""The shop's CDK app: `python tests/foreign_app/app.py` synthesizes it into tests/foreign_app/cdk.out,
as `cdk synth` would (asset and construct path metadata included, as the CDK CLI asks for them)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from aws_cdk import App

#: The stack's name: its template is ``<STACK_NAME>.template.json``.
STACK_NAME = "ShopStack"
#: What the CDK CLI puts in the app's context by default: asset paths (``aws:asset:path``) and construct
#: paths (``aws:cdk:path``) in each resource's metadata.
CLI_CONTEXT = {"aws:cdk:enable-asset-metadata": True, "aws:cdk:enable-path-metadata": True}


def synthesize(outdir: Path) -> Path:
    """Synthesize the app into ``outdir``; the path of its template."""
    if __package__ in (None, ""):  # run as a script: its folder is on the path, not the repository
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.foreign_app.shop_stack import ShopStack

    app = App(outdir=str(outdir), context=dict(CLI_CONTEXT))
    ShopStack(app, STACK_NAME)
    app.synth()
    return outdir / f"{STACK_NAME}.template.json"


def synthesized_once(run_dir: Path) -> Path:
    """The app's template, synthesized once per pytest run into ``run_dir`` and shared by pytest-xdist's
    workers: the first synthesizes into a folder of its own and renames it into place, under a lock
    (as tests/synth.py does for ours)."""
    from orderflow_local.stack.synthesis import locked

    folder = run_dir / "cdk-foreign-app"
    with locked(run_dir / "cdk-foreign-app.lock"):
        if not folder.is_dir():
            staging = Path(tempfile.mkdtemp(prefix=".cdk-foreign-app-", dir=run_dir))
            try:
                synthesize(staging)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            staging.rename(folder)
    return folder / f"{STACK_NAME}.template.json"


if __name__ == "__main__":
    print(synthesize(Path(__file__).resolve().parent / "cdk.out"))
