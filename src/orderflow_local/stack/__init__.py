"""The stack, locally: the synthesized template read, deployed into the embedded AWS, and run.

- :mod:`.template`: the synthesized CloudFormation template, synthesized when stale, and read;
- :mod:`.deploy`: the template's queues, topics, table, role and alarms created in the emulator;
- :mod:`.ttl`: DynamoDB's TTL sweep, which moto does not run;
- :mod:`.local_stack`: :class:`LocalStack`, all of it running on one machine.
"""

from orderflow_local.stack.local_stack import LocalStack, StackOptions

__all__ = ["LocalStack", "StackOptions"]
