"""Lambda as a function sees it: the SQS event source mapping, execution environments, the
function's runtime, injected faults and hot reload.

- :mod:`.esm`: the event source mapping (polling, batching, scaling, retries, partial failures);
- :mod:`.environment`: execution environments and their pool, on the parent's side;
- :mod:`.runtime`: what runs in an execution environment's process;
- :mod:`.chaos`: faults injected into the function's calls to AWS;
- :mod:`.reload`: hot reload, when the function's code changes.
"""
