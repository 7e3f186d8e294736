"""Limits that keep one request from costing the server too much.

- size: the query text and the request body have a ceiling;
- depth: nesting deeper than :data:`MAX_DEPTH` is refused (graphene's rule);
- cost: every field costs 1 (more for the ones that read Mongo), times the
  page size of each list above it; a query over :data:`MAX_COST` is refused
  before anything runs.

Each refusal is a GraphQL error that says which limit and by how much.
"""

from __future__ import annotations

from typing import Any

from graphene.validation import depth_limit_validator
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
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

FIELD_COSTS = {"result": 5, "traceback": 5, "attemptHistory": 5, "workers": 10, "stats": 20}
"""Fields that cost more than 1: they read Mongo or Redis, or aggregate."""

LIST_FIELDS = {"jobs": DEFAULT_PAGE}
"""Fields whose subtree repeats per item, with their page size when ``first`` is absent."""


def _multiplier(node: FieldNode) -> int:
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
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            total += multiplier * FIELD_COSTS.get(sel.name.value, 1)
            inner = multiplier * _multiplier(sel)
            total += _cost(sel.selection_set, fragments, inner, seen)
        elif isinstance(sel, InlineFragmentNode):
            total += _cost(sel.selection_set, fragments, multiplier, seen)
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            if name in fragments and name not in seen:  # cycles are another rule's error
                total += _cost(fragments[name].selection_set, fragments, multiplier, seen | {name})
    return total


class QueryCostRule(ValidationRule):
    """Refuses operations whose estimated cost is over :data:`MAX_COST`."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        fragments = {
            d.name.value: d
            for d in self.context.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
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


VALIDATION_RULES = (*specified_rules, depth_limit_validator(max_depth=MAX_DEPTH), QueryCostRule)
"""graphql-core's standard rules plus ours (a list given to validate() replaces them)."""
