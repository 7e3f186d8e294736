"""Write side of the jobs API: submit (one or many), cancel, retry, login, logout.

Refused input comes back in the payload's ``errors`` ([{field, rule,
message}]) with ``job: null``, so forms can show each message beside its
field; nothing is created then. Not being logged in is a top-level error.
"""

from __future__ import annotations

from typing import Any

import graphene
from django.contrib.auth import authenticate, login, logout
from django.middleware.csrf import get_token

from jobs import services
from jobs.api.access import get_job_to_manage, require_user
from jobs.api.quotas import admit
from jobs.api.types import JSON, FieldError, JobPriority, JobType, Viewer
from jobs.errors import JobError
from jobs.jobview import JobView, views
from jobs.models import Priority


class SubmitJobInput(graphene.InputObjectType):
    provider = graphene.String(required=True)
    params = graphene.Field(JSON, description="The provider's parameters (see `providers`).")
    priority = JobPriority(default_value=Priority.DEFAULT.value)
    countdown = graphene.Float(description="Run no earlier than this many seconds from now.")
    idempotency_key = graphene.String(
        description="The same key from the same person returns the first job."
    )


class SubmitJobsInput(graphene.InputObjectType):
    jobs = graphene.List(graphene.NonNull(SubmitJobInput), required=True)


def _request(data: Any) -> services.JobRequest:
    priority = data.get("priority") or Priority.DEFAULT.value
    return services.JobRequest(
        provider=data["provider"],
        params=data.get("params"),
        priority=getattr(priority, "value", priority),
        countdown=data.get("countdown"),
        idempotency_key=data.get("idempotency_key"),
    )


def _errors(exc: JobError) -> list[dict[str, str]]:
    return [p.to_dict() for p in exc.problems]


class SubmitJob(graphene.Mutation):
    class Meta:
        name = "SubmitJobPayload"

    class Arguments:
        input = SubmitJobInput(required=True)

    job = graphene.Field(JobType)
    created = graphene.Boolean(description="False when the idempotency key matched a job.")
    errors = graphene.List(graphene.NonNull(FieldError), required=True)

    @staticmethod
    def mutate(root: Any, info: Any, input: Any) -> SubmitJob:  # noqa: A002
        user = require_user(info)
        admit(user)  # quotas (jobs.api.quotas): a refusal is a top-level error
        try:
            job, created = services.submit(user, _request(input))
        except JobError as exc:
            return SubmitJob(job=None, created=False, errors=_errors(exc))
        return SubmitJob(job=JobView(job), created=created, errors=[])


class SubmitJobs(graphene.Mutation):
    class Meta:
        name = "SubmitJobsPayload"

    """Many jobs in one call: validated together, published together."""

    class Arguments:
        input = SubmitJobsInput(required=True)

    jobs = graphene.List(graphene.NonNull(JobType), required=True)
    errors = graphene.List(graphene.NonNull(FieldError), required=True)

    @staticmethod
    def mutate(root: Any, info: Any, input: Any) -> SubmitJobs:  # noqa: A002
        user = require_user(info)
        admit(user, len(input["jobs"]))  # quotas (jobs.api.quotas)
        try:
            jobs = services.submit_many(user, [_request(item) for item in input["jobs"]])
        except JobError as exc:
            return SubmitJobs(jobs=[], errors=_errors(exc))
        return SubmitJobs(jobs=views(jobs), errors=[])


class CancelJob(graphene.Mutation):
    class Meta:
        name = "CancelJobPayload"

    class Arguments:
        id = graphene.ID(required=True)

    job = graphene.Field(JobType)
    cancelled = graphene.Boolean(required=True, description="False if it was final already.")
    errors = graphene.List(graphene.NonNull(FieldError), required=True)

    @staticmethod
    def mutate(root: Any, info: Any, id: str) -> CancelJob:  # noqa: A002
        user = require_user(info)
        try:
            job = get_job_to_manage(user, id)
        except JobError as exc:
            return CancelJob(job=None, cancelled=False, errors=_errors(exc))
        # The framework's revoke(terminate=True) also stops a running attempt.
        cancelled = services.cancel(job, user)
        return CancelJob(job=JobView(job), cancelled=cancelled, errors=[])


class RetryJob(graphene.Mutation):
    class Meta:
        name = "RetryJobPayload"

    """A new job with the same input, linked by ``retryOf`` to the failed one."""

    class Arguments:
        id = graphene.ID(required=True)

    job = graphene.Field(JobType, description="The new job (the first one, if retried before).")
    created = graphene.Boolean()
    errors = graphene.List(graphene.NonNull(FieldError), required=True)

    @staticmethod
    def mutate(root: Any, info: Any, id: str) -> RetryJob:  # noqa: A002
        user = require_user(info)
        try:
            job = get_job_to_manage(user, id)
        except JobError as exc:
            return RetryJob(job=None, created=False, errors=_errors(exc))
        admit(user)  # a retry is a new job (quotas, jobs.api.quotas)
        try:
            job, created = services.retry(job)
        except JobError as exc:
            return RetryJob(job=None, created=False, errors=_errors(exc))
        return RetryJob(job=JobView(job), created=created, errors=[])


class Login(graphene.Mutation):
    class Meta:
        name = "LoginPayload"

    """Session login for the UI (send the CSRF token, as for every session POST)."""

    class Arguments:
        username = graphene.String(required=True)
        password = graphene.String(required=True)

    viewer = graphene.Field(Viewer)
    csrf_token = graphene.String(description="The new CSRF token (login rotates it).")
    errors = graphene.List(graphene.NonNull(FieldError), required=True)

    @staticmethod
    def mutate(root: Any, info: Any, username: str, password: str) -> Login:
        request = info.context
        user = authenticate(request, username=username, password=password)
        if user is None:
            problem = {
                "field": "password",
                "rule": "credentials",
                "message": "wrong username or password",
            }
            return Login(viewer=None, errors=[problem])
        login(request, user)
        viewer = {"id": user.pk, "username": user.get_username(), "is_staff": user.is_staff}
        return Login(viewer=viewer, csrf_token=get_token(request), errors=[])


class Logout(graphene.Mutation):
    class Meta:
        name = "LogoutPayload"

    ok = graphene.Boolean(required=True)

    @staticmethod
    def mutate(root: Any, info: Any) -> Logout:
        logout(info.context)
        return Logout(ok=True)


class Mutation(graphene.ObjectType):
    submit_job = SubmitJob.Field()
    submit_jobs = SubmitJobs.Field()
    cancel_job = CancelJob.Field()
    retry_job = RetryJob.Field()
    login = Login.Field()
    logout = Logout.Field()
