"""The worker: a poll loop, an execution pool, and the bookkeeping between them."""

from .main import Worker

__all__ = ["Worker"]
