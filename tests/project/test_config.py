"""[tool.sagabus], .env, the environment and flags: one typed model, first wins."""

from __future__ import annotations

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
                 "METRICS_PORT"):
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
