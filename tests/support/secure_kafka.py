"""A private Kafka broker secured as production is (deploy/k8s/overlays/production/kafka.yaml): one SASL_SSL
listener with SCRAM-SHA-512 users, the StandardAuthorizer with ACLs and one super user, no plaintext anywhere a
client can reach (the controller listener takes mutual TLS with the broker's own certificate only).

Certificates are made here with `cryptography` (a CA, the broker's certificate for 127.0.0.1/localhost) and
given to Kafka as PEM files; the SCRAM users are created when the storage is formatted (`--add-scram`).
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.protocol.admin import CreateAclsRequest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from local_infra._proc import log_tail, port_open, run_sync
from local_infra.kafka import KafkaBroker, _cluster_id
from shared.kafka_clients import client_options
from shared.settings import KafkaSettings

BROKER_PRINCIPAL = "CN=broker"
_RESOURCE = {"topic": 2, "group": 3}
_OPERATION = {"Read": 3, "Write": 4, "Describe": 8}
_LITERAL, _ALLOW = 3, 3


@dataclass
class Pki:
    """A throwaway CA and the broker's key and certificate, as PEM files in `folder`."""

    folder: Path
    ca_file: Path = field(init=False)
    keystore_file: Path = field(init=False)

    def __post_init__(self) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test cluster CA")])
        ca = (_builder(ca_name, ca_name, ca_key.public_key())
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        san = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                           x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        cert = (_builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "broker")]), ca_name, key.public_key())
                .add_extension(san, critical=False)
                .sign(ca_key, hashes.SHA256()))
        pem = serialization.Encoding.PEM
        self.ca_file = self.folder / "ca.crt"
        self.ca_file.write_bytes(ca.public_bytes(pem))
        self.keystore_file = self.folder / "broker.pem"   # Kafka's PEM keystore: PKCS#8 key, then the chain
        self.keystore_file.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            + cert.public_bytes(pem) + ca.public_bytes(pem))
        self.keystore_file.chmod(0o600)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1)))


class SecureKafkaBroker(KafkaBroker):
    """local_infra's broker with the client listener on SASL_SSL/SCRAM-SHA-512 and ACLs enforced.

    `users`: SCRAM user -> password, created at format time; `super_user` may do anything (ops)."""

    def __init__(self, folder: Path, users: dict[str, str], *, super_user: str = "ops") -> None:
        super().__init__(num_partitions=1)
        self.pki = Pki(folder)
        self.super_user = super_user
        self.users = {**users, super_user: users.get(super_user) or secrets.token_urlsafe(16)}
        self.broker_password = secrets.token_urlsafe(16)

    def settings(self, user: str, *, password: str | None = None) -> KafkaSettings:
        """What a service's `*_KAFKA__*` environment holds in production, for `user`."""
        return KafkaSettings(bootstrap_servers=self.bootstrap_servers, security_protocol="SASL_SSL",
                             sasl_username=user, sasl_password=password or self.users[user],
                             ssl_ca_file=self.pki.ca_file)

    def _write_config(self) -> None:
        jaas = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
                f'username="broker" password="{self.broker_password}";')
        self.extra_properties = {
            "listeners": f"SECURE://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"SECURE://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "SECURE",
            "listener.security.protocol.map": "SECURE:SASL_SSL,CONTROLLER:SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.secure.scram-sha-512.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PEM", "ssl.keystore.location": str(self.pki.keystore_file),
            "ssl.truststore.type": "PEM", "ssl.truststore.location": str(self.pki.ca_file),
            "listener.name.controller.ssl.client.auth": "required",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{BROKER_PRINCIPAL};User:broker;User:{self.super_user}",
            "auto.create.topics.enable": "false",   # as in production: topics are KafkaTopic resources
        } | self.extra_properties
        super()._write_config()

    def _format(self) -> None:
        assert self.workdir is not None
        scram = [arg for user, password in {**self.users, "broker": self.broker_password}.items()
                 for arg in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]")]
        cmd = self._java_cmd("kafka.tools.StorageTool", "format", "--standalone", "--ignore-formatted",
                             "--cluster-id", _cluster_id(), "--config", str(self.workdir / "server.properties"), *scram)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"Kafka storage format failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def _wait_ready(self) -> None:
        """Ready when the super user, over SASL_SSL, gets metadata listing the broker."""
        assert self._proc is not None
        deadline, last_error = time.monotonic() + self.startup_timeout, None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"Kafka exited with {self._proc.returncode}:\n{log_tail(self.log_path)}")
            try:
                if port_open(self.port) and run_sync(_answers(self.settings(self.super_user))):
                    return
            except Exception as error:  # noqa: BLE001 - retried until the deadline
                last_error = error
            time.sleep(0.2)
        raise TimeoutError(f"secure Kafka not ready ({last_error!r}):\n{log_tail(self.log_path)}")

    def admin(self) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(**client_options(self.settings(self.super_user)), request_timeout_ms=10_000)

    async def allow(self, principal: str, resource: str, name: str, operations: tuple[str, ...]) -> None:
        """Create ALLOW ACLs as the super user (aiokafka's admin has no ACL call: the raw CreateAcls request)."""
        admin = self.admin()
        await admin.start()
        try:
            for operation in operations:
                request = CreateAclsRequest(_RESOURCE[resource], name, _LITERAL, principal, "*",
                                            _OPERATION[operation], _ALLOW)
                response = await admin._send_request(request)  # noqa: SLF001 - no public ACL API in aiokafka
                ((error_code, message),) = [tuple(r[:2]) for r in response.creation_responses]
                if error_code:
                    raise RuntimeError(f"CreateAcls {principal} {operation} {resource}:{name}: {error_code} {message}")
        finally:
            await admin.close()

    async def create_topics(self, names: set[str]) -> None:
        """As the super user: production creates topics from KafkaTopic resources, never on first use."""
        admin = self.admin()
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, 1, 1) for name in sorted(names)])
        finally:
            await admin.close()


async def _answers(settings: KafkaSettings) -> bool:
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=5000)
    try:
        await admin.start()
        return bool((await admin.describe_cluster()).get("brokers"))
    finally:
        await admin.close()
