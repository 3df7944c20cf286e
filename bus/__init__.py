"""sagabus: declarative sagas, durable state and exactly-once effects on RabbitMQ."""
