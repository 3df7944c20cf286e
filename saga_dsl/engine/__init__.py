"""The saga engine on the bus: saga endpoints, durable timers, definition versions.

This is where the pure state machine of `saga_dsl` meets the store and RabbitMQ: each
loaded definition becomes a `SagaEndpoint` (queue `saga.<name>`), and one
`TimerScheduler` per daemon fires the durable timers of every saga.
"""
