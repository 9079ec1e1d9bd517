"""Operations that work against AWS as well as locally: producers, the DLQ, the demo's traffic.

- :mod:`.producer`: sending orders and cancellations, as producers do (through the topic when there is one);
- :mod:`.dlq`: the dead letter queue: listing, explaining and redriving its messages;
- :mod:`.events`: tailing the domain events on the bus (a temporary queue and rule);
- :mod:`.traffic`: realistic traffic planned, sent and verified (the demo, the benches);
- :mod:`.dead_letter_report`: every dead letter of a run explained (``python -m``).
"""
