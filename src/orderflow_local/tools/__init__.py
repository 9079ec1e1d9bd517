"""Tooling around the stack: the benchmarks, and moto's own test suite run with and without our patches.

- :mod:`.bench`: the benchmarks behind ``orderflow bench``;
- :mod:`.moto_suite`: ``python -m orderflow_local.tools.moto_suite`` (``make moto-suite``);
- :mod:`.moto_suite_plugin`: the pytest plugin that applies our patches to moto's tests.
"""
