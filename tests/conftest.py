"""Fixtures for the real services every integration test talks to.

The services are the local stack's (``deploy/local/stack up``; the README's
test command starts them). A service that cannot be reached fails the tests
that need it, with the address tried and where its log is; it never turns
them into skips.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from config import health
from config.environment import Environment

ENV = Environment.from_env()
RUN_ID = f"{time.strftime('%H%M%S')}{os.getpid()}{uuid.uuid4().hex[:4]}"
"""Unique per test run, so runs never see each other's topics, keys or data."""

_counter = itertools.count()


def _unreachable(service: str, address: str, error: object) -> None:
    log = ENV.stack_home / "logs" / f"{service.lower()}.log"
    pytest.fail(
        f"{service} is not reachable at {address}: {error}. "
        f"Start the local stack with `deploy/local/stack up` (log: {log}).",
        pytrace=False,
    )


def _require(service: str, address: str, check: Callable[[str], str | None]) -> str:
    error = check(address)
    if error is not None:
        _unreachable(service, address, error)
    return address


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    address = _require("Kafka", ENV.kafka_bootstrap_servers, health.check_kafka)
    yield address
    _delete_run_topics(address)


def _delete_run_topics(address: str) -> None:
    """Delete every topic this run created (named after ``unique_name``).

    Tests that clean up after themselves already did; the rest would pile up
    run after run, and a broker holding tens of thousands of partitions runs
    out of file descriptors."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": address})
    prefix = f"t{RUN_ID}n"
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    for start in range(0, len(topics), 500):  # bounded requests
        # A timeout of 0 would make the broker answer at once and delete
        # nothing (Kafka 4.1, KRaft): wait for the deletion.
        batch = topics[start : start + 500]
        for future in admin.delete_topics(batch, operation_timeout=60).values():
            future.result()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _require("Redis", ENV.redis_url, health.check_redis)


@pytest.fixture(scope="session")
def mongo_url() -> str:
    return _require("Mongo", ENV.mongo_url, health.check_mongo)


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    return _require("RabbitMQ", ENV.rabbitmq_url, health.check_rabbitmq)


@pytest.fixture
def unique_name() -> Iterator[str]:
    """A name no other test or run uses: topic prefixes, keys, databases."""
    yield f"t{RUN_ID}n{next(_counter)}"
