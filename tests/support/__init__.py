"""What every test directory shares: the test's own handle on RabbitMQ (`broker`) and
saga files rewritten for a test (`sagas`). Where RabbitMQ and PostgreSQL are, and
whether they answer, is `tests/live_services.py`."""
