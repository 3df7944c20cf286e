"""Dead letters: messages the bus gave up on, with the reason.

`republishing` names the dead-letter headers and builds dead-letter and retry messages;
`dead_letter` is the one `DeadLetter` view of a message lying in a dead-letter queue;
`registry` records the dead-letter queues a runtime declares, so the tooling finds every
one of a namespace; `operations` is the operator tooling behind `sagabus dlq` (list,
show, replay, purge), on any `Transport`. What a pipeline does with a failure (poison,
retry, dead letter) is `bus.unitofwork.failure_policy`. Imports the wire, settings and
observability only.
"""
