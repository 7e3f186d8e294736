"""An in-memory store that can be taken down, for the fast tier's outage tests.

Wraps a memory twin: while ``down``, every call that would reach a server
raises the error the real client raises when its server is gone (the state
store's :class:`StateStoreUnavailable`; for the result store an error it
owns), so the worker's outage handling runs as it does against Redis and
MongoDB. Calls that only touch the caller's own buffer keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskqueue.stores.state import StateStoreUnavailable


class ResultStoreDown(ConnectionError):
    """What the wrapped result store raises while down."""


LOCAL_CALLS = frozenset({"record", "take", "put_back", "classify", "close"})
"""Result-store methods that only touch the worker's own buffer."""


class SwitchableStore:
    def __init__(self, store: Any, error: Callable[[], Exception]) -> None:
        self._store = store
        self._error = error
        self.down = False

    def owns_error(self, exc: BaseException) -> bool:
        return isinstance(exc, type(self._error())) or self._store.owns_error(exc)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr) or name.startswith("_") or name in LOCAL_CALLS:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise self._error()
            return attr(*args, **kwargs)

        return call


def switchable_state(store: Any) -> SwitchableStore:
    return SwitchableStore(store, lambda: StateStoreUnavailable("state store down (test)"))


def switchable_results(store: Any) -> SwitchableStore:
    return SwitchableStore(store, lambda: ResultStoreDown("result store down (test)"))
