"""The local console: the running stack in a browser (`orderflow up` serves it; docs/console.md).

- :mod:`.topology`: the stack as a map, from the deployed template;
- :mod:`.dashboard`: the template's CloudWatch dashboard with the local metrics;
- :mod:`.state`: what the page reads and does (live numbers, alarms, dead letters, orders);
- :mod:`.feed`: the live events, gathered on a thread while a page is open;
- :mod:`.app`: the web app (Starlette) and its guards; :mod:`.server`: uvicorn on a thread.
"""

from orderflow_local.console.server import Console, ConsoleStartError

__all__ = ["Console", "ConsoleStartError"]
