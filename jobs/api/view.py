"""The ``/graphql`` endpoint: graphene-django's view with our limits.

CSRF stays on (no ``csrf_exempt``): browser sessions must send the token;
bearer-token requests are exempted by :mod:`jobs.auth` before this runs.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from graphene_django.views import GraphQLView, HttpError
from graphql import ExecutionResult, GraphQLError

from jobs.api.limits import MAX_BODY_BYTES, MAX_QUERY_CHARS, VALIDATION_RULES


class JobsGraphQLView(GraphQLView):
    validation_rules = VALIDATION_RULES

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
        if query and len(query) > MAX_QUERY_CHARS:
            error = GraphQLError(
                f"query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}",
                extensions={"code": "TOO_LARGE"},
            )
            return ExecutionResult(data=None, errors=[error])
        return super().execute_graphql_request(
            request, data, query, variables, operation_name, show_graphiql
        )
