"""Starting an emulator never resets, nor shares the port of, another one (pytest-xdist workers).

The port picked for an emulator's own process can be taken by another worker's emulator before
the server binds it. The readiness probe changes nothing and knows its own server by a token
given at each start; an own-process emulator claims its port against the others.
"""

from __future__ import annotations

import pytest

from orderflow_local.emulator import Emulator
from orderflow_local.emulator import server as emulator

pytestmark = pytest.mark.timeout(120)


def _queues(aws: Emulator) -> list[str]:
    return aws.sqs().list_queues().get("QueueUrls", [])


def _pick_first(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """The next free port picked is ``port``: another worker's emulator took it before the server bound it."""
    picks = iter([port])
    pick_free = emulator._free_port
    monkeypatch.setattr(emulator, "_free_port", lambda: next(picks, None) or pick_free())


@pytest.mark.parametrize(
    "others_own_process",
    [
        # The probe finds another emulator on the port (its werkzeug server binds it alone: the new
        # one's cannot): it must not take that one for its own, nor reset it.
        pytest.param(False, id="the-readiness-probe-leaves-the-server-that-took-the-port-alone"),
        # granian binds with SO_REUSEPORT: without a claim on the port, two would both listen on it.
        pytest.param(True, id="two-own-process-emulators-never-share-a-port"),
    ],
)
def test_an_emulator_never_takes_or_resets_another_emulators_port(
    monkeypatch: pytest.MonkeyPatch, others_own_process: bool
) -> None:
    with Emulator(port=0, own_process=others_own_process) as other:  # another worker's emulator
        url = other.sqs().create_queue(QueueName="another-workers")["QueueUrl"]
        _pick_first(monkeypatch, other.port)
        with Emulator(port=0, own_process=True) as mine:  # the start moves to another port
            assert mine.port != other.port
            assert _queues(mine) == []
        assert url in _queues(other)
