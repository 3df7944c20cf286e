"""What one `python -m bench` run measured: the labels of its parts and `Results`."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.conversation import Run
from bench.cpu import CpuShare
from bench.order_saga import OrderRun
from bench.scaleout import ScaleOut
from bench.scaling import ParkedResult
from bench.stages import StageFigures
from bench.waits import WaitFigures
from bench.window import WindowRun

RAW = "(1) aio-pika, consume callbacks"
RAW_ITERATOR = "(1b) aio-pika, queue iterator"
FASTSTREAM = "(2) FastStream"
SAGABUS = "(3) sagabus services, SQLite"
ORDERS_SQLITE = "(4) order saga, SQLite"
ORDERS_POSTGRES = "(4) order saga, PostgreSQL"


@dataclass
class Results:
    """Everything one `python -m bench` run measured, and how."""

    settings: dict[str, object]
    in_flight: int
    pingpong: dict[str, list[Run]] = field(default_factory=dict)
    orders: dict[str, list[OrderRun]] = field(default_factory=dict)
    levels: list[OrderRun] = field(default_factory=list)
    windows: list[WindowRun] = field(default_factory=list)
    parked: ParkedResult | None = None
    stages: list[StageFigures] = field(default_factory=list)
    waits: list[WaitFigures] = field(default_factory=list)
    """Where the wall time of the order saga went, by endpoint and phase (`bench.waits`)."""
    cpu: dict[str, list[CpuShare]] = field(default_factory=dict)
    """Where the cores went during each run of (1)-(4), by part (`bench.cpu`)."""
    scaleout: ScaleOut | None = None
    machine: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
