"""KafkaSettings' security options and the one place they become client options (shared.kafka_clients).

Half a configuration must fail at start: SASL without its password would not sign in, credentials with
PLAINTEXT would be silently ignored (an anonymous client in production). The real broker is in
tests/test_kafka_security.py.
"""

import ssl

import pytest
from faststream.security import SASLScram512
from pydantic import ValidationError

from shared.kafka_clients import broker_security, client_options, kafka_settings_from_env
from shared.settings import KafkaSettings

SASL = {"bootstrap_servers": "kafka:9093", "security_protocol": "SASL_SSL", "sasl_username": "notifier-kafka",
        "sasl_password": "s3cret-password"}


@pytest.mark.parametrize("half", [
    {"security_protocol": "SASL_SSL"},
    {"security_protocol": "SASL_SSL", "sasl_username": "notifier-kafka"},
    {"sasl_username": "notifier-kafka", "sasl_password": "s3cret-password"},
    {"security_protocol": "SSL", "sasl_username": "notifier-kafka", "sasl_password": "s3cret-password"},
    {"ssl_ca_file": "/etc/kafka-cluster-ca/ca.crt"},
    {"security_protocol": "SSL", "ssl_cert_file": "/etc/client.crt"},
])
def test_half_a_security_configuration_is_refused_without_echoing_the_password(half: dict) -> None:
    with pytest.raises(ValidationError) as refused:
        KafkaSettings(bootstrap_servers="kafka:9093", **half)
    assert "s3cret-password" not in str(refused.value)


def test_sasl_ssl_gives_every_client_scram_over_verified_tls() -> None:
    settings = KafkaSettings(**SASL)
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("notifier-kafka", "s3cret-password")
    context = options["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    security = broker_security(settings)
    assert isinstance(security, SASLScram512) and security.use_ssl and security.username == "notifier-kafka"
    assert "s3cret-password" not in repr(settings)


def test_plaintext_stays_plaintext_for_local_runs() -> None:
    assert client_options("127.0.0.1:9092") == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}
    assert broker_security(KafkaSettings(bootstrap_servers="127.0.0.1:9092")) is None


def test_command_line_tools_read_the_same_settings_from_the_environment() -> None:
    environ = {f"KAFKA_{key.upper()}": value for key, value in SASL.items()}
    assert kafka_settings_from_env("other:9093", environ=environ) == KafkaSettings(**{
        **SASL, "bootstrap_servers": "other:9093"})
    with pytest.raises(ValidationError):
        kafka_settings_from_env(environ={"KAFKA_BOOTSTRAP_SERVERS": "k:9093", "KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
