"""Limits that keep one request from costing the server too much.

- size: the query text and the request body have a ceiling;
- depth: nesting deeper than :data:`MAX_DEPTH` is refused (graphene's rule);
- cost: every field costs 1, more for the ones that do I/O (see
  :data:`FIELD_COSTS`), times the page size of each list above it; a query
  over :data:`MAX_COST` is refused before anything runs;
- aliases: at most :data:`MAX_ALIASES` aliased fields per operation, whatever
  their cost (aliases are how one request repeats a field, e.g. to probe
  many ids or fan out to every worker many times).

Each refusal is a GraphQL error that says which limit and by how much.
"""

from __future__ import annotations

from typing import Any

from graphene.validation import depth_limit_validator
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    specified_rules,
)

from jobs.api.pagination import DEFAULT_PAGE, MAX_PAGE

MAX_DEPTH = 10
"""Deepest selection nesting (``jobs { edges { node { retryOf { ... } } } }`` is 5)."""

MAX_COST = 5_000
"""Ceiling of the estimated cost of one operation."""

MAX_QUERY_CHARS = 20_000
"""Longest query text."""

MAX_BODY_BYTES = 1_000_000
"""Largest request body (a bulk of 100 jobs of at most 4 KB of params each fits)."""

MAX_ALIASES = 30
"""Most aliased fields one operation may hold (through fragments too)."""

READ = 5
"""One indexed database or Mongo read (a row by id, a page, a result document)."""
COUNT = 50
"""A COUNT or aggregate over a person's jobs (all jobs for those who see all)."""
SCAN = 250
"""A substring search over every visible job's params and error: no index helps."""
REMOTE_CALL = 500
"""A call that leaves the site and may wait for its deadline: gRPC to every
live worker (``workers``, CONTROL_TIMEOUT) or a RabbitMQ request/reply to the
worker holding a job (``jobProgress``, PROGRESS_RPC_TIMEOUT). Priced as a
miss, though ``workers`` is usually answered from a shared cache."""

FIELD_COSTS = {
    "job": READ,
    "jobs": READ,
    "retryOf": READ,
    "result": READ,
    "traceback": READ,
    "attemptHistory": READ,
    "totalCount": COUNT,
    "stats": COUNT,
    "workers": REMOTE_CALL,
    "jobProgress": REMOTE_CALL,
}
"""Fields that cost more than 1, by the I/O they do. MAX_COST / REMOTE_CALL
bounds the remote calls of one operation."""

ARGUMENT_COSTS = {("jobs", "search"): SCAN}
"""Extra cost of a field when it is given this argument (a variable counts:
it may hold a value)."""

LIST_FIELDS = {"jobs": DEFAULT_PAGE}
"""Connections whose ``edges`` repeat per item, with their page size when
``first`` is absent. Only ``edges`` repeats: ``totalCount`` and ``pageInfo``
are answered once per page."""

REPEATED = "edges"


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _page_size(node: FieldNode) -> int:
    name = node.name.value
    if name not in LIST_FIELDS:
        return 1
    for arg in node.arguments or ():
        if arg.name.value == "first":
            if isinstance(arg.value, IntValueNode):
                return max(1, min(int(arg.value.value), MAX_PAGE))
            return MAX_PAGE  # a variable: assume the largest page
    return LIST_FIELDS[name]


def _cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    multiplier: int,
    seen: frozenset[str],
    page: int = 1,
) -> int:
    """Cost of a selection resolved ``multiplier`` times; ``page``: the page
    size of the connection it belongs to, applied at its ``edges``."""
    if selection_set is None:
        return 0
    total = 0
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            name = sel.name.value
            total += multiplier * FIELD_COSTS.get(name, 1)
            for arg in sel.arguments or ():
                given = not isinstance(arg.value, NullValueNode)
                total += multiplier * ARGUMENT_COSTS.get((name, arg.name.value), 0) * given
            inner = multiplier * page if name == REPEATED else multiplier
            total += _cost(sel.selection_set, fragments, inner, seen, _page_size(sel))
        elif isinstance(sel, InlineFragmentNode):
            total += _cost(sel.selection_set, fragments, multiplier, seen, page)
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            if name in fragments and name not in seen:  # cycles are another rule's error
                selection = fragments[name].selection_set
                total += _cost(selection, fragments, multiplier, seen | {name}, page)
    return total


class QueryCostRule(ValidationRule):
    """Refuses operations whose estimated cost is over :data:`MAX_COST`."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        fragments = fragments_of(self.context.document)
        cost = _cost(node.selection_set, fragments, 1, frozenset())
        if cost > MAX_COST:
            self.report_error(
                GraphQLError(
                    f"query cost {cost} is over the limit of {MAX_COST}; "
                    "ask for fewer items (first) or fewer fields",
                    node,
                    extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "limit": MAX_COST},
                )
            )


def _aliases(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            total += sel.alias is not None
            total += _aliases(sel.selection_set, fragments, seen)
        elif isinstance(sel, InlineFragmentNode):
            total += _aliases(sel.selection_set, fragments, seen)
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            if name in fragments and name not in seen:
                total += _aliases(fragments[name].selection_set, fragments, seen | {name})
    return total


class AliasLimitRule(ValidationRule):
    """Refuses operations with more than :data:`MAX_ALIASES` aliased fields."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        fragments = fragments_of(self.context.document)
        count = _aliases(node.selection_set, fragments, frozenset())
        if count > MAX_ALIASES:
            self.report_error(
                GraphQLError(
                    f"the operation has {count} aliased fields; the limit is {MAX_ALIASES}",
                    node,
                    extensions={"code": "TOO_MANY_ALIASES", "count": count, "limit": MAX_ALIASES},
                )
            )


VALIDATION_RULES = (
    *specified_rules,
    depth_limit_validator(max_depth=MAX_DEPTH),
    QueryCostRule,
    AliasLimitRule,
)
"""graphql-core's standard rules plus ours (a list given to validate() replaces them)."""
