"""``cold_start``: the handler's import time (with its clients) against bare boto3, in fresh processes."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

_BARE = "import boto3; boto3.client('dynamodb')"
_HANDLER = "import orderflow.handler as h; h._runtime()"
_TIMER = (
    "import sys, time; sys.path[:0] = {path!r}; t = time.perf_counter(); {code}; "
    "print((time.perf_counter() - t) * 1000)"
)


@dataclass
class ColdStartResult:
    bare_ms: float  # import boto3 + one client, fresh process
    handler_ms: float  # import the handler module + build its clients, fresh process
    ratio: float
    samples: int
    #: The same handler from the asset without its bytecode: what each cold start pays when
    #: the asset is built without a Python interpreter of the runtime's version.
    no_bytecode_ms: float


def cold_start(*, samples: int = 15) -> ColdStartResult:
    """Median import time of the handler (with its clients) against bare boto3, in fresh processes.

    Both run as in Lambda: a clean interpreter (``-I -S``: no site-packages) that sees only the
    function's asset (built for this machine the way the deployed one is built, bytecode
    included) and the runtime's boto3, and writes no bytecode (``-B``: Lambda's code directory
    is read-only). Importing from a development venv full of packages would measure the venv.
    """
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    from orderflow_local.stack.synthesis import ROOT

    if str(ROOT) not in sys.path:  # infra/ sits beside src/ in the clone: it is never installed or deployed
        sys.path.insert(0, str(ROOT))
    from infra.lambda_asset import build_asset, host_target, runtime_provided

    asset = build_asset(host_target())
    scratch = Path(tempfile.mkdtemp(prefix="orderflow-cold-start-"))
    try:
        provided = runtime_provided(scratch / "runtime-provided")
        bare_asset = shutil.copytree(asset, scratch / "asset", ignore=shutil.ignore_patterns("__pycache__"))
        env = {
            **os.environ,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "TABLE_NAME": "Orders",
            "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/OrderCreatedDLQ",
            # As Lambda sets them: Powertools' Tracer is on, and the X-Ray SDK takes its Lambda
            # path (no sampling-rules client at import).
            "AWS_LAMBDA_FUNCTION_NAME": "OrderProcessor",
            "LAMBDA_TASK_ROOT": str(asset),
        }

        def once(code: str, path: list[str]) -> float:
            result = subprocess.run(  # noqa: S603 - our own interpreter and code
                [sys.executable, "-I", "-S", "-B", "-c", _TIMER.format(path=path, code=code)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            return float(result.stdout.strip())

        bare, handler, uncompiled = [], [], []
        for _ in range(samples):  # interleaved, so load on the machine affects all alike
            bare.append(once(_BARE, [str(provided)]))
            handler.append(once(_HANDLER, [str(asset), str(provided)]))
            uncompiled.append(once(_HANDLER, [str(bare_asset), str(provided)]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    bare_ms, handler_ms = statistics.median(bare), statistics.median(handler)
    return ColdStartResult(
        bare_ms=bare_ms,
        handler_ms=handler_ms,
        ratio=handler_ms / bare_ms,
        samples=samples,
        no_bytecode_ms=statistics.median(uncompiled),
    )
