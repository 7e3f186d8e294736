"""GraphQL over websockets at ``/graphql``: the ``graphql-transport-ws`` protocol.

graphene-django has no server side for subscriptions, and the one package
that adds them over Channels pins Django below 5; this consumer is ours. It
runs graphene 3's subscription resolvers (``subscribe_<field>``) through
graphql-core: the source stream comes from ``create_source_event_stream``
(what ``Schema.subscribe`` calls), and each event is resolved with
``execute`` against the client's selection, exactly as ``Schema.subscribe``
maps it, except that a selection touching a field whose resolver is marked
``@blocking`` (``result``, ``traceback``, ... see :mod:`jobs.api.blocking`)
is resolved in a worker thread: the ORM refuses to run on the event loop,
and Mongo would stall every socket.

Authentication (progress.handshake decides which applies): a browser's
session cookie, or ``connectionParams: {authorization: "Bearer <token>"}`` in
``connection_init``. A bad token closes with 4403; a handshake without Origin
and without a token closes with 4401; an anonymous browser connection is
acknowledged and each operation then fails like an anonymous query does
(UNAUTHENTICATED). When the session, token or account ends, the socket is
closed with 4401 (progress.credentials).
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from types import SimpleNamespace
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from graphql import (
    ExecutionResult,
    GraphQLError,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.subscribe import create_source_event_stream

from jobs.api.blocking import needs_thread
from jobs.api.error_ids import client_error
from jobs.api.limits import MAX_QUERY_CHARS
from jobs.api.metrics import subscription_opened
from jobs.api.operation_rules import validation_rules
from jobs.jobview import JobView
from jobs.models import ApiToken
from progress import credentials
from progress.handshake import CREDENTIALS, TOKEN
from progress.mailbox import Overflow
from progress.protocol import SUBPROTOCOL, Close, Message, ProtocolError, encode
from progress.protocol import parse as parse_message

logger = logging.getLogger("progress.consumer")

INIT_TIMEOUT = 3.0
"""Seconds a client has to send ``connection_init`` (``GRAPHQL_WS_INIT_TIMEOUT``)."""

MAX_OPERATIONS = 100
"""Operations one connection may run at once."""


def project_schema() -> Any:
    """The project's schema: graphene-django's ``GRAPHENE["SCHEMA"]``, as HTTP serves.

    Named by the setting rather than imported, because the project composes
    the apps' schemas and an app must not import the project.
    """
    from graphene_django.settings import graphene_settings

    schema = graphene_settings.SCHEMA
    if schema is None:
        raise ImproperlyConfigured(
            'GRAPHENE["SCHEMA"] is not set: name the project\'s graphene schema, '
            'e.g. GRAPHENE = {"SCHEMA": "mysite.schema.schema"}'
        )
    return schema


_frames: weakref.WeakKeyDictionary[JobView, dict[tuple[Any, ...], str]] = (
    weakref.WeakKeyDictionary()
)
"""Encoded payloads of each shared event root, by operation; gone with the root.
Touched only on the event loop's thread."""


def _frame_cache(root: Any) -> dict[tuple[Any, ...], str] | None:
    """The shared root's payload cache (None for roots that are not shared)."""
    if not isinstance(root, JobView) or not root.shared:
        return None
    return _frames.setdefault(root, {})


def _payload(result: ExecutionResult) -> str:
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [client_error(e) for e in result.errors]
    return json.dumps(payload, separators=(",", ":"), default=str)


def _bearer(payload: dict[str, Any] | None) -> str | None:
    """The token of ``authorization: "Bearer <token>"`` in connectionParams, if any."""
    if not payload:
        return None
    value = payload.get("authorization", payload.get("Authorization"))
    if not isinstance(value, str):
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _still_valid(scope: dict[str, Any], user: Any, token: str | None) -> bool:
    """Whether the credentials still hold after the socket joined their
    groups (an end that came before the join was not delivered to it)."""
    if token is not None:
        return ApiToken.objects.filter(
            digest=credentials.token_digest(token), user__is_active=True
        ).exists()
    from django.contrib.auth import SESSION_KEY

    session = scope.get("session")
    if session is None or not session.session_key:
        return type(user).objects.filter(pk=user.pk, is_active=True).exists()
    fresh = session.__class__(session.session_key)
    return str(fresh.get(SESSION_KEY)) == str(user.pk) and user.is_active


class GraphQLWSConsumer(AsyncWebsocketConsumer):
    # Events come from the hub (progress.hub); the channel layer carries only
    # "credentials ended" messages (progress.credentials).
    channel_layer_alias = credentials.LAYER

    async def connect(self) -> None:
        self.acked = False
        self.init_received = False
        self.user: Any = self.scope.get("user")
        self.token_only = self.scope.get(CREDENTIALS) == TOKEN
        self.credential_groups: list[str] = []
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.init_timer: asyncio.Task[None] | None = None
        if SUBPROTOCOL not in self.scope.get("subprotocols", []):
            await self.accept()
            await self.close(int(Close.SUBPROTOCOL_NOT_ACCEPTABLE), "Subprotocol not acceptable")
            return
        await self.accept(SUBPROTOCOL)
        self.init_timer = asyncio.get_running_loop().create_task(self._init_deadline())

    async def _init_deadline(self) -> None:
        await asyncio.sleep(getattr(settings, "GRAPHQL_WS_INIT_TIMEOUT", INIT_TIMEOUT))
        if not self.init_received:
            await self.close(int(Close.INIT_TIMEOUT), "Connection initialisation timeout")

    async def disconnect(self, code: int) -> None:
        if self.init_timer is not None:
            self.init_timer.cancel()
        for group in getattr(self, "credential_groups", ()):
            await self.channel_layer.group_discard(group, self.channel_name)
        for task in list(getattr(self, "operations", {}).values()):
            task.cancel()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            await self.handle(parse_message(text_data))
        except ProtocolError as exc:
            logger.info("closing websocket %s: %s", exc.code.value, exc.reason)
            # int(): daphne (autobahn) refuses an IntEnum as a close code.
            await self.close(int(exc.code), exc.reason)

    async def handle(self, message: Message) -> None:
        kind = message.type
        if kind == "connection_init":
            await self.on_init(message.payload)
        elif kind == "ping":
            await self.send(text_data=encode("pong", payload=message.payload))
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            self.on_subscribe(message)
        elif kind == "complete":
            task = self.operations.pop(message.id or "", None)
            if task is not None:
                task.cancel()

    async def on_init(self, payload: dict[str, Any] | None) -> None:
        if self.init_received:
            raise ProtocolError(Close.TOO_MANY_INIT, "Too many initialisation requests")
        self.init_received = True
        if self.init_timer is not None:
            self.init_timer.cancel()
        token = _bearer(payload)
        if token is None and self.token_only:
            raise ProtocolError(
                Close.UNAUTHORIZED,
                "Unauthorized: without a browser Origin, send connectionParams "
                '{authorization: "Bearer <token>"}',
            )
        if token is not None:
            # Watch the token before checking it: a deletion in between is
            # then either seen by the check or delivered to the group.
            await self.watch(credentials.token_group(credentials.token_digest(token)))
            user = await database_sync_to_async(ApiToken.authenticate)(token) if token else None
            if user is None:
                raise ProtocolError(Close.FORBIDDEN, "Forbidden: the API token is invalid")
            self.user = user
        elif self.user is not None and self.user.is_authenticated:
            session = self.scope.get("session")
            if session is not None and session.session_key:
                await self.watch(credentials.session_group(session.session_key))
        if self.user is not None and self.user.is_authenticated:
            await self.watch(credentials.user_group(self.user.pk))
            if not await database_sync_to_async(_still_valid)(self.scope, self.user, token):
                raise ProtocolError(Close.UNAUTHORIZED, "Unauthorized: credentials ended")
        self.acked = True
        await self.send(text_data=encode("connection_ack"))

    async def watch(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.credential_groups.append(group)

    async def credentials_ended(self, event: dict[str, Any]) -> None:
        """``credentials.ended`` from progress.credentials: log out, token
        revoked, account deactivated. 4401 tells graphql-ws not to reconnect."""
        logger.info("closing websocket of user %s: %s", getattr(self.user, "pk", None), event)
        await self.close(int(Close.UNAUTHORIZED), f"Unauthorized: {event.get('reason', 'ended')}")

    def on_subscribe(self, message: Message) -> None:
        op_id = message.id
        assert op_id is not None
        if not self.acked:
            raise ProtocolError(Close.UNAUTHORIZED, "Unauthorized")
        if op_id in self.operations:
            raise ProtocolError(Close.SUBSCRIBER_EXISTS, f"Subscriber for {op_id} already exists")
        task = asyncio.get_running_loop().create_task(self.run_operation(op_id, message.payload))
        self.operations[op_id] = task

    # --- running operations -----------------------------------------------------
    async def run_operation(self, op_id: str, payload: dict[str, Any]) -> None:
        try:
            if len(self.operations) > MAX_OPERATIONS:
                await self.send_errors(
                    op_id, [GraphQLError(f"at most {MAX_OPERATIONS} operations per connection")]
                )
                return
            await self.operation(op_id, payload)
        except asyncio.CancelledError:
            raise  # the client completed it, or left: nothing to send
        except Overflow as exc:
            await self.send_errors(op_id, [GraphQLError(str(exc), extensions={"code": "TOO_SLOW"})])
        except Exception:
            logger.exception("subscription %s failed", op_id)
            await self.send_errors(op_id, [GraphQLError("internal error")])
        finally:
            if self.operations.get(op_id) is asyncio.current_task():
                del self.operations[op_id]

    async def operation(self, op_id: str, payload: dict[str, Any]) -> None:
        schema = project_schema()
        query = payload["query"]
        variables = payload.get("variables") or None
        name = payload.get("operationName") or None
        if len(query) > MAX_QUERY_CHARS:
            await self.send_errors(op_id, [GraphQLError("query too long")])
            return
        try:
            document = parse(query)
        except GraphQLError as exc:
            await self.send_errors(op_id, [exc])
            return
        graphql_schema = schema.graphql_schema
        errors = validate(graphql_schema, document, validation_rules())
        operation = get_operation_ast(document, name)
        if not errors and operation is None:
            errors = [GraphQLError("no operation with that name in the document")]
        if errors:
            await self.send_errors(op_id, errors)
            return
        assert operation is not None
        context = SimpleNamespace(user=self.user, scope=self.scope)
        args = (graphql_schema, document)
        if operation.operation == OperationType.QUERY:
            result = await database_sync_to_async(execute)(*args, None, context, variables, name)
            await self.send_next(op_id, result)  # type: ignore[arg-type]
        elif operation.operation == OperationType.MUTATION:
            await self.send_errors(op_id, [GraphQLError("send mutations over HTTP POST /graphql")])
            return
        else:
            stream = await create_source_event_stream(*args, None, context, variables, name)
            if isinstance(stream, ExecutionResult):
                await self.send_errors(op_id, stream.errors or [])
                return
            threaded = needs_thread(graphql_schema, document)
            shape = (query, json.dumps(variables, sort_keys=True), name)
            closed = subscription_opened(operation)  # graphql_subscriptions_open
            try:
                async for root in stream:
                    # One hub event is one shared root object for every
                    # subscriber of its job: the first subscriber with this
                    # exact operation resolves and encodes it, the others
                    # reuse the text (Job fields do not depend on who asks;
                    # who may subscribe was decided when the stream started).
                    frames = _frame_cache(root)
                    text = frames.get(shape) if frames is not None else None
                    if text is None:
                        if threaded:
                            result = await database_sync_to_async(execute)(
                                *args, root, context, variables, name
                            )
                        else:
                            result = execute(*args, root, context, variables, name)
                        if asyncio.iscoroutine(result):
                            result = await result
                        text = _payload(result)  # type: ignore[arg-type]
                        if frames is not None:
                            frames[shape] = text
                    await self.send(
                        text_data=f'{{"type":"next","id":{json.dumps(op_id)},"payload":{text}}}'
                    )
            finally:
                closed()
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()
        await self.send(text_data=encode("complete", op_id))

    async def send_next(self, op_id: str, result: ExecutionResult) -> None:
        await self.send(
            text_data=f'{{"type":"next","id":{json.dumps(op_id)},"payload":{_payload(result)}}}'
        )

    async def send_errors(self, op_id: str, errors: list[GraphQLError]) -> None:
        await self.send(text_data=encode("error", op_id, [client_error(e) for e in errors]))
