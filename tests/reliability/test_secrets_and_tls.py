"""Credentials never reach a log line or an error, whatever carries them; `amqps://` is
configured with CA, certificate and key files that the AMQP driver then uses."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess
from pathlib import Path

import aiormq
import pytest
import structlog
from reliability_support import sagabus

from bus.errors import BrokerUnavailable, ConfigurationError
from bus.observability.logging import configure_logging
from bus.observability.redact import redact_text, redact_url
from bus.settings import Settings
from bus.wire.rabbitmq import RabbitMQTransport

SECRET = "hunter2"


def test_a_password_with_an_unescaped_at_sign_is_masked_whole() -> None:
    assert redact_text(f"failed amqp://u:{SECRET}@x@host/ then") == "failed amqp://u:***@host/ then"
    assert SECRET not in redact_url(f"amqp://u:{SECRET}@x@host/")


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_logged_exceptions_and_nested_values_never_show_a_password(
    log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(log_format, "info")
    try:
        def connect(url: str) -> None:
            raise ConnectionError(f"refused by {url}")

        try:
            connect(f"amqp://u:{SECRET}@h/")
        except ConnectionError:
            structlog.get_logger("t").error(
                "cannot connect", exc_info=True, tried=[f"amqp://u:{SECRET}@h/"],
                settings={"url": f"amqps://u:{SECRET}@h/"},
            )
            logging.getLogger("aiormq.connection").error("driver", exc_info=True)
        err = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level
    assert "refused by amqp://u:***@h/" in err
    assert SECRET not in err


def test_a_wrong_setting_beside_the_url_does_not_echo_the_url() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load({"SAGABUS_AMQP_URL": f"amqp://u:{SECRET}@h/", "SAGABUS_TLS_CA": "/etc/hosts"})
    assert "not amqps://" in str(caught.value) and SECRET not in str(caught.value)


async def test_an_unreachable_broker_is_reported_without_the_password() -> None:
    transport = RabbitMQTransport(f"amqp://u:{SECRET}@127.0.0.1:1/", connect_timeout=2)
    with pytest.raises(BrokerUnavailable) as caught:
        await transport.connect()
    assert "amqp://u:***@127.0.0.1:1/" in str(caught.value) and SECRET not in str(caught.value)
    assert SECRET not in repr(transport)


async def test_the_dlq_command_reports_an_unreachable_broker_without_the_password() -> None:
    ran = await sagabus("dlq", "list", "payments", "--amqp-url", f"amqp://u:{SECRET}@127.0.0.1:1/")
    assert ran.code == 2 and "cannot connect to RabbitMQ at amqp://u:***@127.0.0.1:1/" in ran.err
    assert SECRET not in ran.out + ran.err and "Traceback" not in ran.err


# -- TLS ------------------------------------------------------------------------------
@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """A self-signed CA and a client certificate signed by it (PEM files)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=sagabus-test-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out",
            "client.csr", "-subj", "/CN=sagabus-client")
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "client.pem", "-days", "2")
    return {"ca": tmp_path / "ca.pem", "cert": tmp_path / "client.pem",
            "key": tmp_path / "client.key"}


async def test_amqps_with_ca_cert_and_key_reaches_the_driver_as_a_tls_context(
    pki: dict[str, Path],
) -> None:
    settings = Settings.load({
        "SAGABUS_AMQP_URL": f"amqps://u:{SECRET}@rabbit.example:5671/vh?heartbeat=30",
        "SAGABUS_TLS_CA": str(pki["ca"]), "SAGABUS_TLS_CERT": str(pki["cert"]),
        "SAGABUS_TLS_KEY": str(pki["key"]),
    })
    connection = aiormq.Connection(settings.amqp_url)
    assert connection.url.scheme == "amqps" and connection.url.query["heartbeat"] == "30"
    certs = connection.ssl_certs
    assert (certs.cafile, certs.cert, certs.key) == (
        str(pki["ca"]), str(pki["cert"]), str(pki["key"])
    )
    provider = aiormq.connection.SSLContextProvider(
        ssl_context=None, ssl_certs=certs, loop=asyncio.get_running_loop()
    )
    context = await provider.get_context()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert any("sagabus-test-ca" in str(ca["subject"]) for ca in context.get_ca_certs())
    assert SECRET not in redact_url(settings.amqp_url)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SAGABUS_AMQP_URL": "amqp://h/", "SAGABUS_TLS_CA": "{ca}"}, "not amqps://"),
        ({"SAGABUS_AMQP_URL": "amqps://h/", "SAGABUS_TLS_CA": "/no/such.pem"},
         "TLS cafile '/no/such.pem' is not a readable file"),
        ({"SAGABUS_AMQP_URL": "amqps://h/", "SAGABUS_TLS_KEY": "{key}"},
         "a TLS key needs its certificate"),
    ],
)
def test_tls_settings_that_cannot_work_fail_at_start_up_in_one_line(
    env: dict[str, str], message: str, pki: dict[str, Path]
) -> None:
    given = {k: v.format(ca=pki["ca"], key=pki["key"]) for k, v in env.items()}
    with pytest.raises(ConfigurationError, match=message):
        Settings.load(given)
