"""Resolvers that wait on I/O say so where they are defined: ``@blocking("mongo")``.

The websocket consumer (progress/consumer.py) resolves subscription events
on the event loop, where one blocking call would stall every socket of the
process (and the ORM refuses to run there at all). It asks
:func:`needs_thread` whether an operation selects any field whose resolver
is marked, and if so resolves that operation in a worker thread. HTTP
requests run in threads anyway. A resolver that reads only what its root
already holds (a :class:`jobs.jobview.JobView`'s row and live state) is not
marked, which is what keeps live progress off the thread pool.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLObjectType,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    visit,
)

F = TypeVar("F", bound=Callable[..., Any])

MARK = "__blocking__"
"""Attribute of a marked resolver: the services it waits on."""

SERVICES = frozenset({"db", "redis", "mongo", "rabbitmq", "grpc"})
"""What a resolver may wait on; anything else is a typo."""


def blocking(*services: str) -> Callable[[F], F]:
    """Mark a resolver as waiting on ``services`` (e.g. ``"db"``, ``"mongo"``)."""
    unknown = set(services) - SERVICES
    if not services or unknown:
        raise ValueError(
            f"blocking() takes one or more of {', '.join(sorted(SERVICES))}; "
            f"got {', '.join(sorted(unknown)) or 'nothing'}"
        )

    def mark(fn: F) -> F:
        setattr(fn, MARK, frozenset(services))
        return fn

    return mark


def _unwrap(fn: Any) -> Any:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


@functools.lru_cache(maxsize=8)
def blocking_fields(schema: GraphQLSchema) -> dict[tuple[str, str], frozenset[str]]:
    """``{(type name, field name): services}`` of every marked resolver in ``schema``."""
    found = {}
    for graphql_type in schema.type_map.values():
        if isinstance(graphql_type, GraphQLObjectType):
            for name, field in graphql_type.fields.items():
                services = getattr(_unwrap(field.resolve), MARK, None)
                if services:
                    found[(graphql_type.name, name)] = services
    return found


def needs_thread(schema: GraphQLSchema, document: DocumentNode) -> bool:
    """Whether resolving ``document`` calls any blocking resolver."""
    marked = blocking_fields(schema)
    info = TypeInfo(schema)
    found = False

    class Finder(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            nonlocal found
            parent = info.get_parent_type()
            if parent is not None and (parent.name, node.name.value) in marked:
                found = True

    visit(document, TypeInfoVisitor(info, Finder()))
    return found
