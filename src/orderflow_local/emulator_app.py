"""moto's WSGI application, as the emulator's HTTP server (granian) loads it in its worker process.

granian calls ``orderflow_local.emulator_app:create_app`` in the process that serves requests,
so that process applies our moto patches and IAM enforcement itself. The emulator's process
passes its choice in the environment (:data:`ENFORCE_IAM`), since granian's worker is a
process of its own.
"""

from __future__ import annotations

import logging
import os

from orderflow_local import moto_iam, moto_patches

#: Set to "1" by the emulator's process when requests signed by an assumed role are authorized.
ENFORCE_IAM = "ORDERFLOW_EMULATOR_ENFORCE_IAM"


def create_app() -> object:
    """moto's server application (every service on one endpoint), patched."""
    moto_patches.apply()
    moto_iam.enforce(os.environ.get(ENFORCE_IAM) == "1")
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return DomainDispatcherApplication(create_backend_app)
