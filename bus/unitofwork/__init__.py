"""The unit of work: one delivery, handled once.

The consumer pipeline (inbox, handler, outbox, commit, publish, ack), the outbox relay,
endpoints and the `Service` API, retry policies, the runtime that runs endpoints on one
transport and store, and the retention sweeper. Imports the wire, the stores, dead
letters and observability; nothing imports it from those wings.
"""
