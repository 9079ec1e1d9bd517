"""Benchmarks: every figure is a ratio against a baseline measured in the same run.

- ``sqs_depth`` (:mod:`.queue_depth`): the cost of ``ReceiveMessage`` and ``SendMessageBatch`` as the
  queue grows, against the same calls on an empty queue;
- ``pipeline`` (:mod:`.throughput`): the pipeline's throughput against the emulator's own ceiling;
- ``emulator`` (:mod:`.emulator_vs_moto`): our emulator against stock moto, and the SigV4 replayer;
- ``batch_latency`` (:mod:`.batching`): how many write latencies a batch of 10 costs;
- ``cold_start`` (:mod:`.cold_starts`): the handler's import time against bare boto3;
- ``load`` (:mod:`.burst`): a burst through the whole pipeline, with memory sampled;
- ``workflow`` (:mod:`.workflow`): orders through every service to the e-mail, against what the cores
  allow, with the latency, CPU per function and the stack's memory;
- ``console`` (:mod:`.console`): the console's cost: idle CPU, first load, throughput with a page open
  against none;
- ``handler_cost`` (:mod:`.handler`): our handler's own CPU per record against a bare handler written
  as the tutorial's, in one process on one store double.

(The modules are not named after their functions, which this package re-exports: a function
would hide its module's name here.)
"""

from orderflow_local.tools.bench.batching import BatchLatencyResult, batch_latency
from orderflow_local.tools.bench.burst import LoadResult, load
from orderflow_local.tools.bench.cold_starts import ColdStartResult, cold_start
from orderflow_local.tools.bench.console import ConsoleBenchResult, console
from orderflow_local.tools.bench.emulator_vs_moto import (
    EmulatorResult,
    emulator,
    replay,
    signed_put_items,
    stored_order,
)
from orderflow_local.tools.bench.handler import HandlerCostResult, handler_cost
from orderflow_local.tools.bench.queue_depth import DepthRow, DepthRows, sqs_depth
from orderflow_local.tools.bench.throughput import (
    CEILING_THREADS,
    PipelineResult,
    best_put_item_ceiling,
    pipeline,
    put_item_ceiling,
)
from orderflow_local.tools.bench.workflow import WorkflowResult, workflow

__all__ = [
    "CEILING_THREADS",
    "BatchLatencyResult",
    "ColdStartResult",
    "ConsoleBenchResult",
    "DepthRow",
    "DepthRows",
    "EmulatorResult",
    "HandlerCostResult",
    "LoadResult",
    "PipelineResult",
    "WorkflowResult",
    "batch_latency",
    "best_put_item_ceiling",
    "cold_start",
    "console",
    "emulator",
    "handler_cost",
    "load",
    "pipeline",
    "put_item_ceiling",
    "replay",
    "signed_put_items",
    "sqs_depth",
    "stored_order",
    "workflow",
]
