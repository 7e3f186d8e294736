"""Settings are converted and checked field by field, whatever their source.

No services: these tests build ``Settings`` only. Each source (environment,
settings object, keyword arguments) goes through the same rule per type, and
a bad value is reported with its name, its value and where it came from.
"""

from __future__ import annotations

from typing import Any

import pytest

from taskqueue import ConfigurationError, TaskQueue
from taskqueue.config import _RULES, Settings
from taskqueue.delays import route, tier_topics

pytestmark = pytest.mark.fast


class Obj:
    """A settings object like Django's: attributes named TASKQUEUE_<NAME>."""

    def __init__(self, **values: Any) -> None:
        for name, value in values.items():
            setattr(self, f"TASKQUEUE_{name.upper()}", value)


def from_env(name: str, text: str) -> Settings:
    return Settings.load(env={f"TASKQUEUE_{name.upper()}": text})


def from_object(name: str, value: Any) -> Settings:
    return Settings.load(env={}, settings_object=Obj(**{name: value}))


def from_mapping(name: str, value: Any) -> Settings:
    return Settings.load(env={}, settings_object={f"TASKQUEUE_{name.upper()}": value})


def from_kwargs(name: str, value: Any) -> Settings:
    return Settings.load(env={}, **{name: value})


SOURCES = [from_env, from_object, from_mapping, from_kwargs]
"""Every way a value reaches Settings; each conversion test runs through all."""

EVERY_SOURCE = pytest.mark.parametrize("load", SOURCES, ids=lambda f: f.__name__)


# --- one rule per type, from every source --------------------------------------


@EVERY_SOURCE
@pytest.mark.parametrize("word", ["false", "0", "no", "off", "FALSE", " Off "])
def test_false_words_are_false(load: Any, word: str) -> None:
    assert load("always_eager", word).always_eager is False
    assert load("results_enabled", word).results_enabled is False


@EVERY_SOURCE
@pytest.mark.parametrize("word", ["true", "1", "yes", "on", "True"])
def test_true_words_are_true(load: Any, word: str) -> None:
    assert load("always_eager", word).always_eager is True


@EVERY_SOURCE
@pytest.mark.parametrize("word", ["", "maybe", "2", "enabled"])
def test_other_words_are_not_booleans(load: Any, word: str) -> None:
    with pytest.raises(ConfigurationError, match="expected a boolean"):
        load("always_eager", word)


@EVERY_SOURCE
def test_integer_text_is_an_integer(load: Any) -> None:
    s = load("partitions", "6")
    assert s.partitions == 6 and isinstance(s.partitions, int)


@EVERY_SOURCE
@pytest.mark.parametrize("text", ["6.5", "six", ""])
def test_non_integer_text_for_an_integer_field_is_an_error(load: Any, text: str) -> None:
    with pytest.raises(ConfigurationError, match="expected an integer"):
        load("partitions", text)


def test_python_values_keep_their_types_and_floats_accept_ints() -> None:
    s = Settings.load(env={}, partitions=4, publish_timeout=3, always_eager=True)
    assert s.partitions == 4
    assert s.publish_timeout == 3.0 and isinstance(s.publish_timeout, float)
    assert s.always_eager is True


@pytest.mark.parametrize("value", [6.0, True, None])
def test_an_integer_field_rejects_floats_bools_and_none(value: Any) -> None:
    # True is an int in Python, but partitions=True is a mistake, not 1.
    with pytest.raises(ConfigurationError, match="expected an integer"):
        Settings.load(env={}, partitions=value)


@EVERY_SOURCE
def test_float_text_is_a_float(load: Any) -> None:
    assert load("shutdown_grace", "2.5").shutdown_grace == 2.5


@pytest.mark.parametrize("text", ["soon", "nan", "inf"])
def test_float_fields_reject_non_numbers(text: str) -> None:
    with pytest.raises(ConfigurationError, match="TASKQUEUE_SHUTDOWN_GRACE"):
        from_env("shutdown_grace", text)


@EVERY_SOURCE
def test_dict_fields_accept_json_text(load: Any) -> None:
    s = load("kafka_consumer_options", '{"session.timeout.ms": 6000}')
    assert s.kafka_consumer_options == {"session.timeout.ms": 6000}


def test_dict_fields_accept_mappings_and_reject_other_json() -> None:
    assert from_kwargs("kafka_producer_options", {"acks": "all"}).kafka_producer_options == {
        "acks": "all"
    }
    for text in ("[1, 2]", "{not json", "3"):
        with pytest.raises(ConfigurationError, match="expected a JSON object"):
            from_env("kafka_producer_options", text)


# --- delay tiers and queue weights: parsed once ---------------------------------


@EVERY_SOURCE
def test_delay_tiers_text_is_parsed_once_into_sorted_seconds(load: Any) -> None:
    assert load("delay_tiers", "30, 1,5,5").delay_tiers == (1.0, 5.0, 30.0)


@pytest.mark.parametrize("value", [[5, 1], (1, 5), "[5, 1]", ["1", 5.0]])
def test_delay_tiers_accept_lists_and_json(value: Any) -> None:
    assert from_kwargs("delay_tiers", value).delay_tiers == (1.0, 5.0)


def test_sub_second_delay_tiers_are_accepted_and_named_in_milliseconds() -> None:
    s = from_env("delay_tiers", "0.2,0.5,1")
    assert s.delay_tiers == (0.2, 0.5, 1.0)
    assert s.delay_topic(0.2) == "tq.delay.200ms"
    assert s.delay_group(0.2) == "tq.delays.200ms"
    # Whole-second tiers keep their names, so an upgrade finds the same topics.
    assert tier_topics(s)[-1] == "tq.delay.1s"
    assert s.delay_group(1.0) == "tq.delays.1s"


def test_readers_of_tiers_use_the_parsed_value() -> None:
    s = from_env("delay_tiers", "0.2,0.5")
    topic, headers = route(s, "tq.default", due=100.3, headers=[], now=100.0)
    assert topic == "tq.delay.200ms"
    assert tier_topics(s) == ["tq.delay.200ms", "tq.delay.500ms"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "at least one tier"),
        ("1,x", "'x' is not a number"),
        ("0,5", "more than 0"),
        ("-1", "more than 0"),
        ("0.0005", "whole milliseconds"),
    ],
)
def test_bad_delay_tiers_say_which_tier(text: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=f"TASKQUEUE_DELAY_TIERS=.*{why}"):
        from_env("delay_tiers", text)


@EVERY_SOURCE
@pytest.mark.parametrize("text", ['{"high": 6, "default": "3"}', "high=6, default=3"])
def test_queue_weights_accept_json_and_pairs(load: Any, text: str) -> None:
    assert load("queue_weights", text).queue_weights == {"high": 6, "default": 3}


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("high=0", "at least 1"),
        ("high=2.5", "not an integer"),
        ("high", "expected queue=weight"),
        ({"high": -1}, "at least 1"),
        ([1], "expected a mapping"),
    ],
)
def test_bad_queue_weights_are_errors(value: Any, why: str) -> None:
    with pytest.raises(ConfigurationError, match=f"queue_weights=.*{why}"):
        from_kwargs("queue_weights", value)


# --- URLs, choices, ranges -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("broker_url", ["kafka://h:9092", "memory://"], ["redis://h:1", "kafka://"]),
        (
            "redis_url",
            ["redis://h:6379/0", "rediss://h:1", "unix:///run/redis.sock", "memory://"],
            ["http://h", "h:6379"],
        ),
        (
            "mongo_url",
            ["mongodb://h:27017", "mongodb+srv://cluster.example", "memory://"],
            ["postgres://h/db"],
        ),
        ("rabbitmq_url", ["amqp://u:p@h:5672/%2F", "amqps://h", ""], ["kafka://h:1"]),
    ],
)
def test_urls_are_checked_for_their_scheme(name: str, good: list[str], bad: list[str]) -> None:
    for url in good:
        assert getattr(from_kwargs(name, url), name) == url
    for url in bad:
        with pytest.raises(ConfigurationError, match=f"{name}="):
            from_kwargs(name, url)


def test_a_password_in_a_bad_url_is_not_repeated() -> None:
    with pytest.raises(ConfigurationError) as caught:
        from_env("redis_url", "http://user:s3cret@h:1")
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)


def test_mongo_url_may_be_empty_only_without_results() -> None:
    assert Settings.load(env={}, mongo_url="", results_enabled="false").mongo_url == ""
    with pytest.raises(ConfigurationError, match="required while results are enabled"):
        Settings.load(env={}, mongo_url="")


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("pool", "gevent", "one of threads, processes"),
        ("compression", "brotli", "one of none"),
        ("partitions", "0", "at least 1"),
        ("state_ttl", "-5", "at least 1"),
        ("control_port", "70000", "0 to 65535"),
        ("concurrency", "-1", "0 \\(one per CPU\\) or more"),
        ("publish_timeout", "0", "more than 0"),
        ("topic_prefix", "a/b.", "only letters, digits"),
        ("default_queue", "", "must be non-empty"),
    ],
)
def test_choices_and_ranges_are_checked(name: str, value: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=f"TASKQUEUE_{name.upper()}=.*{why}"):
        from_env(name, value)


# --- how errors are reported -----------------------------------------------------


def test_an_error_names_the_setting_its_value_and_its_source() -> None:
    cases = [
        (from_env, "TASKQUEUE_PARTITIONS='six' (environment): expected an integer"),
        (from_object, "TASKQUEUE_PARTITIONS='six' (settings object): expected an integer"),
        (from_mapping, "TASKQUEUE_PARTITIONS='six' (settings object): expected an integer"),
        (from_kwargs, "partitions='six' (keyword argument): expected an integer"),
    ]
    for load, message in cases:
        with pytest.raises(ConfigurationError) as caught:
            load("partitions", "six")
        assert str(caught.value) == message


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(
            env={"TASKQUEUE_PARTITIONS": "six", "TASKQUEUE_CONCURENCY": "3"},
            settings_object=Obj(always_eager="maybe"),
            pool="gevent",
        )
    message = str(caught.value)
    for part in (
        "TASKQUEUE_PARTITIONS='six' (environment)",
        "TASKQUEUE_ALWAYS_EAGER='maybe' (settings object)",
        "pool='gevent' (keyword argument)",
        "unknown taskqueue setting TASKQUEUE_CONCURENCY (environment); "
        "did you mean TASKQUEUE_CONCURRENCY?",
    ):
        assert part in message


def test_a_later_source_wins_and_its_value_is_the_one_checked() -> None:
    # A bad environment value overridden by a good keyword is not an error.
    s = Settings.load(
        env={"TASKQUEUE_PARTITIONS": "six", "TASKQUEUE_POOL": "processes"},
        settings_object=Obj(pool="threads"),
        partitions=3,
    )
    assert (s.partitions, s.pool) == (3, "threads")


def test_unknown_names_fail_from_every_source() -> None:
    with pytest.raises(ConfigurationError, match=r"TASKQUEUE_PARTITION \(environment\)"):
        Settings.load(env={"TASKQUEUE_PARTITION": "3"})
    with pytest.raises(ConfigurationError, match=r"TASKQUEUE_PARTITION \(settings object\)"):
        Settings.load(env={}, settings_object={"TASKQUEUE_PARTITION": 3})
    with pytest.raises(ConfigurationError, match=r"partition \(keyword argument\)"):
        Settings.load(env={}, partition=3)
    with pytest.raises(ConfigurationError, match="partition"):
        Settings.load(env={}).replace(partition=3)


def test_direct_construction_and_replace_convert_too() -> None:
    s = Settings(partitions="4", delay_tiers="5,1")  # type: ignore[arg-type]
    assert (s.partitions, s.delay_tiers) == (4, (1.0, 5.0))
    assert s.replace(always_eager="on").always_eager is True
    with pytest.raises(ConfigurationError, match="partitions='x' \\(keyword argument\\)"):
        s.replace(partitions="x")


def test_every_field_has_a_rule_and_the_defaults_pass_it() -> None:
    assert set(_RULES) == {f for f in Settings.__dataclass_fields__}
    assert Settings.load(env={}) == Settings()


def test_a_bad_setting_stops_the_app_from_being_built() -> None:
    with pytest.raises(ConfigurationError, match="TASKQUEUE_POOL='gevent' \\(environment\\)"):
        TaskQueue("x", env={"TASKQUEUE_POOL": "gevent"})
