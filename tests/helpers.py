"""Helpers the tests import (fixtures stay in the ``conftest`` modules; pytest finds those by itself)."""

import weakref
from contextlib import contextmanager


def connected(signal, receiver) -> bool:
    """Whether ``receiver`` is connected to ``signal`` (a weak reference, as ``Signal.connect`` keeps it)."""
    return any((ref() if isinstance(ref, weakref.ref) else ref) is receiver for _key, ref, *_rest in signal.receivers)


@contextmanager
def receiving(signal, receiver):
    """``receiver`` connected to ``signal`` for the block only."""
    signal.connect(receiver, weak=False)
    try:
        yield
    finally:
        signal.disconnect(receiver)
