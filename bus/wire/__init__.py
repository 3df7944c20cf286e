"""The wire: what a message is and how it travels.

Contracts (message classes and their registry), the envelope codec, the broker topology,
the `Transport` protocol with its RabbitMQ and in-memory implementations, AMQP property
decoding, the reconnect backoff, and the sending client. Imports nothing else from bus
except `bus.errors`, `bus.settings` and `bus.durations`.
"""
