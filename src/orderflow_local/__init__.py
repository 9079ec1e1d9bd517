"""Local AWS for orderflow: an embedded emulator (moto server), a deploy of the synthesized
template into it, and our own faithful emulation of Lambda's SQS event source mapping.

Never bundled into the Lambda. One package per concern, each importing only those listed
before it (cloudwatch names lambda_runtime's Invocation in annotations only), and the
shared helpers; tests/unit/test_layout.py holds them to it:

- :mod:`.emulator`: the embedded AWS: moto served on 127.0.0.1, our patches to it, its clients;
- :mod:`.cloudwatch`: the function's logs, the metrics, and the template's alarms evaluated locally;
- :mod:`.lambda_runtime`: Lambda as a function sees it: the event source mapping, execution
  environments, the runtime in each, injected faults, hot reload;
- :mod:`.stack`: the synthesized template read and deployed, and :class:`~.stack.LocalStack` running it all;
- :mod:`.ops`: operations that also work against AWS: producers, the DLQ, traffic, the dead-letter report;
- :mod:`.tools`: the benchmarks, and moto's own test suite run with our patches.

Shared helpers stay at the top: :mod:`.processes` (process trees and their CPU, via psutil) and
:mod:`.periodic` (a thread that runs a function every N seconds).
"""
