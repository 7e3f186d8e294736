"""The offline provider sandbox: the four upstream APIs, with scripted failures.

See providers/README.md for the endpoints and the failure triggers.
"""

from .core import Fault
from .server import SandboxServer

__all__ = ["Fault", "SandboxServer"]
