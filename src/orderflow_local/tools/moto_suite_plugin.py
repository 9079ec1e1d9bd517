"""A pytest plugin that applies orderflow's moto patches before moto's own tests run (see moto_suite)."""

from __future__ import annotations

from typing import Any


def pytest_configure(config: Any) -> None:
    from orderflow_local.emulator import patches as moto_patches

    moto_patches.apply()
    print(f"orderflow: moto patches applied ({len(moto_patches.ORIGINALS)} originals replaced)")
    del config
