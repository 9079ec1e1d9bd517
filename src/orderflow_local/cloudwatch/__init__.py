"""CloudWatch, locally: the function's logs, its metrics (Lambda's, EMF's, the queues'), and the
template's alarms evaluated against them, with their SNS notifications.

- :mod:`.logs`: the function's log lines, sent to the embedded CloudWatch Logs as Lambda sends them;
- :mod:`.emf`: the embedded metric format, parsed;
- :mod:`.metrics`: the metric store, CloudWatch's statistics, and ``PutMetricData``;
- :mod:`.alarms`: the template's alarms, evaluated, and the monitor thread;
- :mod:`.states`: an alarm's three states;
- :mod:`.notifications`: an alarm's SNS actions.
"""
