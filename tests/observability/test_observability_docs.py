"""docs/operations.md, the Grafana dashboard and the Prometheus configuration cannot
go stale: the metric table lists exactly the metrics there are, and every query names
only series that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from bus.observability.metrics import Metrics

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"
REPO = DOCS.parent


def exposed() -> dict[str, str]:
    """Every metric's name as scraped (counters with `_total`) -> its type."""
    names = {}
    for family in Metrics().registry.collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        names[name] = family.type
    return names


def series() -> set[str]:
    """Every series name a query may use."""
    names = set()
    for name, kind in exposed().items():
        names.add(name)
        if kind == "histogram":
            names.update(f"{name}_{suffix}" for suffix in ("bucket", "count", "sum"))
    return names


def test_every_metric_is_named_the_prometheus_way() -> None:
    for name, kind in exposed().items():
        assert re.fullmatch(r"sagabus_[a-z_]+", name), name
        if kind == "counter":
            assert name.endswith("_total"), name
        if kind == "histogram":
            assert name.endswith("_seconds"), name
        if name.endswith("_seconds"):
            assert kind in ("histogram", "gauge"), name


def test_the_metric_table_lists_every_metric_and_its_type() -> None:
    text = (DOCS / "operations.md").read_text()
    rows = re.findall(r"^\| `(sagabus_\w+)` \| (\w+)", text, re.M)
    assert dict(rows) == exposed()


def test_every_query_in_the_docs_and_the_dashboard_names_a_real_series() -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(queries) >= 10
    text = (DOCS / "operations.md").read_text()
    queries += [line for line in text.splitlines() if "rate(" in line or "> 0" in line]
    used = {name for query in queries for name in re.findall(r"sagabus_\w+", query)}
    assert used, queries
    assert used <= series(), used - series()


def test_prometheus_scrapes_the_port_the_compose_daemon_serves() -> None:
    config = yaml.safe_load((DOCS / "prometheus.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "sagabus"]
    [target] = job["static_configs"][0]["targets"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    daemon = compose["services"]["sagabus"]
    port = target.rsplit(":", 1)[1]
    command = daemon["command"]
    assert command[command.index("--metrics-port") + 1] == port
    assert f"{port}:{port}" in daemon["ports"]
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["observability"]
    assert "./docs/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
