"""Each stack variant synthesized once per pytest run, shared by pytest-xdist's workers.

The first worker to ask for a variant synthesizes it in-process (cdk-nag's packs run as
part of the synthesis and raise on any unacknowledged finding) into a folder of its own,
then renames that folder into place; the others wait on a lock and read the result.
https://pytest-xdist.readthedocs.io/en/stable/how-to.html#making-session-scoped-fixtures-execute-only-once
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

#: What the ``synthesized`` fixture gives: a CDK context's template, built once per run.
Synthesized = Callable[[dict[str, str]], Path]


def synthesized_template(run_dir: Path, context: dict[str, str]) -> Path:
    """The template of the app synthesized with ``context``, built once per run."""
    from infra.app import build_app, template_path

    from orderflow_local.stack.synthesis import locked

    slug = "_".join(f"{key}-{value}" for key, value in sorted(context.items())) or "default"
    folder = run_dir / f"cdk-{slug}"
    with locked(run_dir / f"cdk-{slug}.lock"):
        if not folder.is_dir():
            staging = Path(tempfile.mkdtemp(prefix=f".cdk-{slug}-", dir=run_dir))
            try:
                app, _ = build_app(context=context, outdir=str(staging))
                app.synth()
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            staging.rename(folder)
    return template_path(folder)
