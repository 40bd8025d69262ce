"""How every Kafka client of the platform connects: the one place `KafkaSettings` becomes client options.

The outbox producer, the FastStream broker (consumers), the registry rebuild and `tools.ops` all build their
clients from here, so a production setting (SASL_SSL with SCRAM-SHA-512 against Strimzi's cluster CA) reaches
every one of them; a client built by hand from a bootstrap address alone would be refused in production.
"""

import os
import ssl
from collections.abc import Mapping
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLScram512

from .settings import KafkaSettings


def kafka_settings(kafka: KafkaSettings | str) -> KafkaSettings:
    """A bare bootstrap address (tests, local runs) is a PLAINTEXT setting."""
    return kafka if isinstance(kafka, KafkaSettings) else KafkaSettings(bootstrap_servers=kafka)


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """Verifies the broker (hostname included) against `ssl_ca_file`, or the system's CAs; with a client
    certificate for mutual TLS. None for PLAINTEXT."""
    if kafka.security_protocol == "PLAINTEXT":
        return None
    return create_ssl_context(cafile=kafka.ssl_ca_file, certfile=kafka.ssl_cert_file, keyfile=kafka.ssl_key_file)


def client_options(kafka: KafkaSettings | str) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    kafka = kafka_settings(kafka)
    options: dict[str, Any] = {"bootstrap_servers": kafka.bootstrap_servers,
                               "security_protocol": kafka.security_protocol}
    if kafka.security_protocol != "PLAINTEXT":
        options["ssl_context"] = ssl_context(kafka)
    if kafka.security_protocol == "SASL_SSL" and kafka.sasl_password is not None:  # both set: validated
        options |= {"sasl_mechanism": kafka.sasl_mechanism, "sasl_plain_username": kafka.sasl_username,
                    "sasl_plain_password": kafka.sasl_password.get_secret_value()}
    return options


def broker_security(kafka: KafkaSettings) -> BaseSecurity | None:
    """The same, for FastStream's KafkaBroker (`security=`)."""
    if kafka.security_protocol == "PLAINTEXT":
        return None
    if kafka.security_protocol == "SSL":
        return BaseSecurity(ssl_context=ssl_context(kafka))
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""  # set when SASL: validated
    return SASLScram512(kafka.sasl_username or "", password, ssl_context=ssl_context(kafka))


def kafka_settings_from_env(bootstrap_servers: str | None = None, *, prefix: str = "KAFKA_",
                            environ: Mapping[str, str] | None = None) -> KafkaSettings:
    """KafkaSettings for a command-line tool from `<prefix>BOOTSTRAP_SERVERS`, `<prefix>SECURITY_PROTOCOL`,
    `<prefix>SASL_USERNAME`, `<prefix>SASL_PASSWORD`, `<prefix>SSL_CA_FILE`... (a given address wins)."""
    environ = os.environ if environ is None else environ
    fields: dict[str, Any] = {name: environ[f"{prefix}{name.upper()}"] for name in KafkaSettings.model_fields
                              if environ.get(f"{prefix}{name.upper()}")}
    if bootstrap_servers:
        fields["bootstrap_servers"] = bootstrap_servers
    return KafkaSettings(**fields)
