"""Dead letters: messages the bus gave up on, with the reason.

`republishing` names the dead-letter headers and builds dead-letter and replay messages;
`operations` is the operator tooling behind `sagabus dlq` (list, show, replay, purge).
Imports the wire and observability only.
"""
