"""[tool.sagabus], .env, the environment and flags: one typed model, first wins."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from project_support import sagabus, user_env

from bus.errors import ConfigurationError
from sagabus.config import find_pyproject, load_config

TABLE = """
[project]
name = "shop"

[tool.sagabus]
services = ["shop"]
sagas = "sagas"
store = "sqlite:///./from-table.db"
namespace = "table"
prefetch = 50
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SERVICES", "SAGAS", "STORE", "NAMESPACE", "AMQP_URL", "PREFETCH",
                 "METRICS_PORT", "MIDDLEWARE"):
        monkeypatch.delenv(f"SAGABUS_{name}", raising=False)
    (tmp_path / "pyproject.toml").write_text(TABLE)
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    return tmp_path


def test_the_table_over_the_defaults_found_from_a_subdirectory(project: Path) -> None:
    loaded = load_config()
    assert loaded.pyproject == project / "pyproject.toml"
    assert loaded.config.services == ["shop"]
    assert loaded.config.sagas == project / "sagas"  # relative to the pyproject.toml
    assert loaded.config.store == f"sqlite:///{project.resolve() / 'from-table.db'}"
    assert (loaded.config.namespace, loaded.config.prefetch) == ("table", 50)
    assert loaded.config.amqp_url == "amqp://guest:guest@localhost:5672/"
    assert loaded.origins["namespace"] == "pyproject.toml"
    assert "amqp_url" not in loaded.origins  # a default


def test_flags_over_environment_over_dotenv_over_table(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / ".env").write_text(
        "SAGABUS_NAMESPACE=dotenv\nSAGABUS_PREFETCH=7\nSAGABUS_STORE=sqlite:///./dotenv.db\n"
        "OTHER=ignored\n"
    )
    monkeypatch.setenv("SAGABUS_NAMESPACE", "env")
    monkeypatch.setenv("SAGABUS_STORE", "sqlite:///./env.db")
    monkeypatch.setenv("SAGABUS_SERVICES", "billing, shipping")
    loaded = load_config(store="sqlite:///./flag.db")
    config = loaded.config
    assert config.store == "sqlite:///./flag.db"
    assert config.namespace == "env"
    assert config.prefetch == 7
    assert config.services == ["billing", "shipping"]
    assert loaded.origins == {
        "store": "flag", "namespace": "environment", "services": "environment",
        "prefetch": ".env", "sagas": "pyproject.toml",
    }
    settings = loaded.bus_settings()
    assert (settings.namespace, settings.prefetch, settings.store) == (
        "env", 7, "sqlite:///./flag.db"
    )


def test_the_dotenv_reaches_the_bus_settings_it_does_not_model(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAGABUS_LOG_LEVEL", raising=False)
    (project / ".env").write_text("SAGABUS_LOG_LEVEL=error\n")
    assert load_config().bus_settings().log_level == "error"


def test_a_wrong_value_is_one_line_naming_its_origin(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGABUS_PREFETCH", "0")
    with pytest.raises(ConfigurationError, match=r"^invalid configuration: prefetch from "
                       r"environment: Input should be greater than or equal to 1"):
        load_config()


@pytest.mark.parametrize(
    ("variable", "value", "taken"),
    [("PREFETCH", " 7 ", 7), ("PREFETCH", "7.0", 7), ("PREFETCH", "1_000", 1000),
     ("METRICS_PORT", "0", 0), ("SAGAS", "here", Path("here")),
     ("MIDDLEWARE", "a:B, c:D,", ["a:B", "c:D"])],
)
def test_environment_values_are_read_as_their_fields_types(
    project: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, taken: object
) -> None:
    monkeypatch.setenv(f"SAGABUS_{variable}", value)
    assert getattr(load_config().config, variable.lower()) == taken


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [("PREFETCH", "1e3", "prefetch from environment: Input should be a valid integer, "
      "unable to parse string as an integer (got '1e3')"),
     ("PREFETCH", "7.5", "unable to parse string as an integer"),
     ("METRICS_PORT", "70000", "metrics_port from environment: Input should be less than "
      "or equal to 65535 (got '70000')")],
)
def test_a_wrong_environment_value_is_named(
    project: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"SAGABUS_{variable}", value)
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        load_config()


def test_every_wrong_value_of_the_table_is_named_at_once(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        TABLE.replace('services = ["shop"]', 'services = ["shop", 5]')
        .replace("prefetch = 50", "prefetch = 0.5")
        .replace('store = "sqlite:///./from-table.db"', "store = 3")
    )
    with pytest.raises(ConfigurationError) as refused:
        load_config()
    assert str(refused.value) == (
        "invalid configuration: services.1 from pyproject.toml: Input should be a valid "
        "string (got 5); store from pyproject.toml: Input should be a valid string; "
        "prefetch from pyproject.toml: Input should be a valid integer, got a number with "
        "a fractional part (got 0.5)"
    )


def test_an_unknown_key_in_the_table_is_refused_with_a_hint(project: Path) -> None:
    (project / "pyproject.toml").write_text(TABLE.replace("services =", "service ="))
    with pytest.raises(ConfigurationError, match=r"unknown key 'service' in \[tool.sagabus\] "
                       r"\(did you mean services\?\)"):
        load_config()


def test_a_pyproject_without_the_table_is_not_the_project(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'other'\n")
    assert find_pyproject(tmp_path) is None


async def test_sagabus_config_says_where_each_value_came_from_credentials_redacted(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(TABLE)
    env = user_env(
        SAGABUS_AMQP_URL="amqp://shop:s3cret@rabbit.example:5672/", SAGABUS_LOG_LEVEL="error"
    )
    code, out, err = await sagabus("config", "--prefetch", "9", cwd=tmp_path, env=env)
    assert code == 0, err
    assert "s3cret" not in out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert "amqp://shop:***@rabbit.example:5672/" in lines["amqp_url"]
    assert "environment (SAGABUS_AMQP_URL)" in lines["amqp_url"]
    assert "flag" in lines["prefetch"] and "9" in lines["prefetch"]
    assert "pyproject.toml" in lines["namespace"] and "table" in lines["namespace"]
    assert "default" in lines["metrics_port"]
    assert "error" in lines["log_level"] and "environment (SAGABUS_LOG_LEVEL)" in lines["log_level"]
    assert "classic" in lines["queue_type"] and "default" in lines["queue_type"]
