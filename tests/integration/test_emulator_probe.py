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


def test_the_readiness_probe_leaves_the_server_that_took_the_port_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe finds another emulator on the port (its server binds it alone: the new one's cannot):
    it must not take that one for its own, nor reset it; the start moves to another port."""
    with Emulator(port=0) as other:  # another worker's emulator, served by werkzeug
        url = other.sqs().create_queue(QueueName="another-workers")["QueueUrl"]
        _pick_first(monkeypatch, other.port)
        with Emulator(port=0, own_process=True) as mine:
            assert mine.port != other.port
            assert _queues(mine) == []
        assert url in _queues(other)


def test_two_own_process_emulators_never_share_a_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """granian binds with SO_REUSEPORT: without a claim on the port, two would both listen on it."""
    with Emulator(port=0, own_process=True) as other:
        url = other.sqs().create_queue(QueueName="another-workers")["QueueUrl"]
        _pick_first(monkeypatch, other.port)
        with Emulator(port=0, own_process=True) as mine:
            assert mine.port != other.port
            assert _queues(mine) == []
        assert url in _queues(other)
