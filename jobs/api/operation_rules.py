"""Validation rules about what one operation may ask, beyond its cost.

- at most one ``login`` field per operation: every ``login`` is a password
  guess, and aliases would otherwise pack many into one request;
- no schema introspection (``__schema``, ``__type``) unless
  ``GRAPHQL_INTROSPECTION`` is on (it is with DEBUG);
- no mutation at all for a read-only API token (``ApiToken.read_only``).

:func:`validation_rules` is read per request, so the setting applies to HTTP
and websockets alike and tests can switch it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
)

from jobs.api import limits

MAX_LOGINS = 1
"""``login`` fields allowed in one operation."""


def _root_fields(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> list[FieldNode]:
    """The operation's root fields, through fragments (which could hide a second login)."""
    fields: list[FieldNode] = []
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            fields.append(sel)
        elif isinstance(sel, InlineFragmentNode):
            fields += _root_fields(sel.selection_set, fragments, seen)
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            if name in fragments and name not in seen:  # cycles are another rule's error
                fields += _root_fields(fragments[name].selection_set, fragments, seen | {name})
    return fields


class SingleLoginRule(ValidationRule):
    """Refuses a mutation that selects ``login`` more than once (aliases included)."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        fragments = {
            d.name.value: d
            for d in self.context.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        logins = [
            field
            for field in _root_fields(node.selection_set, fragments)
            if field.name.value == "login"
        ]
        if len(logins) > MAX_LOGINS:
            self.report_error(
                GraphQLError(
                    f"an operation may contain at most {MAX_LOGINS} login field; "
                    f"this one has {len(logins)}",
                    logins,
                    extensions={"code": "TOO_MANY_LOGINS", "limit": MAX_LOGINS},
                )
            )


class ReadOnlyRule(ValidationRule):
    """Refuses every mutation: added for requests made with a read-only token."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        if node.operation == OperationType.MUTATION:
            self.report_error(
                GraphQLError(
                    "this API token is read-only: it may run queries and subscriptions, "
                    "not mutations; create one without --read-only to change jobs",
                    node,
                    extensions={"code": "READ_ONLY_TOKEN"},
                )
            )


def validation_rules(read_only: bool = False) -> tuple[type[ValidationRule], ...]:
    """The rules every operation is validated with, as configured now;
    ``read_only``: the request's credentials may not mutate."""
    rules: tuple[type[ValidationRule], ...] = (*limits.VALIDATION_RULES, SingleLoginRule)
    if read_only:
        rules = (*rules, ReadOnlyRule)
    if not getattr(settings, "GRAPHQL_INTROSPECTION", settings.DEBUG):
        rules = (*rules, NoSchemaIntrospectionCustomRule)
    return rules
