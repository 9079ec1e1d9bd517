"""What the `orderflow` command needs from its package, installed without the repository."""

from __future__ import annotations


def test_the_cli_ships_the_tutorials_sample_order() -> None:
    # `orderflow send` with no argument must work from an installed package, without tests/.
    from pathlib import Path

    from orderflow_cli import main as cli
    from orderflow_cli.main import SEED_ORDER

    assert Path(cli.__file__).parent in SEED_ORDER.parents
    assert SEED_ORDER.read_bytes() == (Path(__file__).parents[1] / "events" / "seed_order.json").read_bytes()
