"""The embedded AWS emulator: moto's server, in this process, on 127.0.0.1 only.

- :mod:`.clients`: its address, region, account and credentials, and the clients' config;
- :mod:`.server`: :class:`Emulator`, its lifecycle on the parent's side;
- :mod:`.child`: what runs in the emulator's own process (granian, or stock moto's server);
- :mod:`.app`: moto's WSGI application behind the loopback guard;
- :mod:`.patches`: our patches to moto, one module per service, and IAM enforcement.

Depends on nothing else in orderflow_local but :mod:`orderflow_local.processes`.
"""

from orderflow_local.emulator.clients import (
    ACCOUNT_ID,
    CREDENTIALS,
    DEFAULT_PORT,
    HOST,
    REGION,
    RoleCredentials,
    client_config,
)
from orderflow_local.emulator.server import Emulator, EmulatorError, PortInUseError

__all__ = [
    "ACCOUNT_ID",
    "CREDENTIALS",
    "DEFAULT_PORT",
    "HOST",
    "REGION",
    "Emulator",
    "EmulatorError",
    "PortInUseError",
    "RoleCredentials",
    "client_config",
]
