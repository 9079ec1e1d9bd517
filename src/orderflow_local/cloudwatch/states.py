"""An alarm's states (CloudWatch's ``StateValue``): what alarms evaluate to, and what notifications act on."""

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
