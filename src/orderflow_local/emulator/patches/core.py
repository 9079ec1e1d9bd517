"""Patches to moto's request dispatch, shared by every service; and :data:`ORIGINALS`, what every patch replaced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

#: moto's own implementations, kept for the tests that compare against them.
ORIGINALS: dict[str, Any] = {}


# --- what every request costs (docs/performance.md, "A faster emulator") -----------------


def _backend_modules_listed_once() -> None:
    """The server finds a request's service without listing moto's package directory.

    moto 5.2.5's server lists its own package directory (``os.listdir`` and an ``isdir`` per
    entry, about 170) twice for every request, to check whether the host names a service.
    The directory does not change while the server runs: it is listed once.
    """
    from moto import backends

    original = backends.list_of_moto_modules
    ORIGINALS["backends.list_of_moto_modules"] = original
    modules = tuple(original())

    def list_of_moto_modules() -> Iterator[str]:
        return iter(modules)

    backends.list_of_moto_modules = list_of_moto_modules


def _action_names_found_once_per_class() -> None:
    """A response class's action methods are listed once per class, not once per request.

    moto 5.2.5 calls ``inspect.getmembers`` on the response class for every request to check
    that the action is one of its methods. The classes' methods are fixed once moto (and these
    patches) are imported.
    """
    import functools

    from moto.core import responses
    from moto.core.utils import method_names_from_class as original

    ORIGINALS["responses.method_names_from_class"] = original
    cached = functools.lru_cache(maxsize=None)(lambda clazz: tuple(original(clazz)))

    def method_names_from_class(clazz: object) -> list[str]:
        return list(cached(clazz))

    responses.method_names_from_class = method_names_from_class  # type: ignore[attr-defined]
