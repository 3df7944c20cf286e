"""sagabus, the application: the command line, the daemon's composition and the demo.

The one place that joins the wire and unit of work (`bus`), the saga language and engine
(`saga_dsl`) and, for the demo, the example services (`handlers`).
"""
