"""One real round trip per service of the local stack."""

from __future__ import annotations

import uuid


def test_kafka_produce_then_consume_round_trip(kafka_bootstrap: str, unique_name: str) -> None:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"{unique_name}-smoke"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    try:
        producer = Producer(
            {"bootstrap.servers": kafka_bootstrap, "acks": "all", "enable.idempotence": True}
        )
        delivered = []
        producer.produce(
            topic,
            key=b"k",
            value=b"hello kafka",
            on_delivery=lambda err, msg: delivered.append(err),
        )
        assert producer.flush(30) == 0
        assert delivered == [None]

        consumer = Consumer(
            {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": unique_name,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        try:
            message = None
            for _ in range(60):
                message = consumer.poll(1.0)
                if message is not None and message.error() is None:
                    break
            assert message is not None and message.error() is None
            assert (message.key(), message.value()) == (b"k", b"hello kafka")
        finally:
            consumer.close()
    finally:
        admin.delete_topics([topic])


def test_kafka_refuses_to_auto_create_topics(kafka_bootstrap: str, unique_name: str) -> None:
    """Topics are the project's to create: a typo in a topic name must not make one."""
    from confluent_kafka import KafkaError, Producer
    from confluent_kafka.admin import AdminClient

    topic = f"{unique_name}-never-created"
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.timeout.ms": 3000})
    errors = []
    producer.produce(topic, value=b"x", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(10)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._MSG_TIMED_OUT)
    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    assert topic not in topics


def test_redis_set_then_get(redis_url: str, unique_name: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    key = f"{unique_name}:smoke"
    try:
        assert client.set(key, "hello redis", ex=60)
        assert client.get(key) == b"hello redis"
    finally:
        client.delete(key)
        client.close()


def test_rabbitmq_publish_then_consume(rabbitmq_url: str, unique_name: str) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        channel = connection.channel()
        queue = channel.queue_declare(queue="", exclusive=True).method.queue
        correlation_id = str(uuid.uuid4())
        channel.basic_publish(
            exchange="",
            routing_key=queue,
            body=b"hello rabbit",
            properties=pika.BasicProperties(correlation_id=correlation_id),
        )
        received = None
        for method, properties, body in channel.consume(queue, inactivity_timeout=10):
            received = (properties.correlation_id, body) if method else None
            if method:
                channel.basic_ack(method.delivery_tag)
            break
        channel.cancel()
        assert received == (correlation_id, b"hello rabbit")
    finally:
        connection.close()


def test_mongo_insert_then_find_through_mongoengine(mongo_url: str, unique_name: str) -> None:
    import mongoengine

    alias = f"smoke-{unique_name}"
    db_name = f"smoke_{unique_name}"
    mongoengine.connect(db=db_name, host=mongo_url, alias=alias, uuidRepresentation="standard")
    try:

        class SmokeDocument(mongoengine.Document):
            name = mongoengine.StringField(required=True)
            count = mongoengine.IntField()
            meta = {"db_alias": alias, "collection": "smoke"}

        SmokeDocument(name="hello mongo", count=3).save()
        found = SmokeDocument.objects(name="hello mongo").first()
        assert found is not None and found.count == 3
    finally:
        mongoengine.connection.get_connection(alias).drop_database(db_name)
        mongoengine.disconnect(alias)
