"""The ``/graphql`` endpoint: graphene-django's view with our limits.

CSRF stays on (no ``csrf_exempt``): browser sessions must send the token;
bearer-token requests are exempted by :mod:`jobs.auth` before this runs.
GraphiQL is served only with DEBUG on; the validation rules (introspection,
one login per operation) and the error texts clients see are decided per
request (:mod:`jobs.api.operation_rules`, :mod:`jobs.api.error_ids`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from graphene_django.views import GraphQLView, HttpError
from graphql import ExecutionResult, GraphQLError

from jobs.api.error_ids import client_error
from jobs.api.limits import MAX_BODY_BYTES, MAX_QUERY_CHARS
from jobs.api.operation_rules import validation_rules


class JobsGraphQLView(GraphQLView):
    @classmethod
    def can_display_graphiql(cls, request: HttpRequest, data: Any) -> bool:
        return settings.DEBUG and super().can_display_graphiql(request, data)

    @staticmethod
    def format_error(error: Exception) -> dict[str, Any]:
        return client_error(error)

    def parse_body(self, request: HttpRequest) -> Any:
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES or (
            request.method == "POST" and len(request.body) > MAX_BODY_BYTES
        ):
            message = f"request body over the limit of {MAX_BODY_BYTES} bytes"
            raise HttpError(
                JsonResponse(
                    {"errors": [{"message": message, "extensions": {"code": "TOO_LARGE"}}]},
                    status=413,
                )
            )
        return super().parse_body(request)

    def execute_graphql_request(
        self,
        request: HttpRequest,
        data: Any,
        query: str | None,
        variables: Any,
        operation_name: str | None,
        show_graphiql: bool = False,
    ) -> ExecutionResult | None:
        if query is not None and not isinstance(query, str):
            # JSON may carry anything as "query"; graphene-django would call
            # len() on it and answer a bare 500.
            error = GraphQLError(
                f"query must be a string of GraphQL, not a {type(query).__name__}",
                extensions={"code": "BAD_REQUEST"},
            )
            return ExecutionResult(data=None, errors=[error])
        if query and len(query) > MAX_QUERY_CHARS:
            error = GraphQLError(
                f"query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}",
                extensions={"code": "TOO_LARGE"},
            )
            return ExecutionResult(data=None, errors=[error])
        # One view instance per request: the rules as configured right now,
        # and for the request's credentials (a read-only token mutates nothing).
        token = getattr(request, "api_token", None)
        self.validation_rules = validation_rules(read_only=bool(token and token.read_only))
        return super().execute_graphql_request(
            request, data, query, variables, operation_name, show_graphiql
        )
