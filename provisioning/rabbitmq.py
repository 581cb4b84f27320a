"""A private RabbitMQ node with the MQTT plugin on a scratch directory, for development and tests.

The same role as ``provisioning.local_broker.LocalBroker`` for Mosquitto, for the
clusterable broker a province or the country would run (docs/scaling.md). Never touches the
system RabbitMQ: every ``RABBITMQ_*`` location (node name, database, logs, config, enabled
plugins, Erlang cookie through ``HOME``) is under ``directory``; the node's Erlang
distribution port is a free one, AMQP 0-9-1 is off and MQTT listens on a free loopback
port, TLS by default with a CA and server certificate made by ``provisioning.tls``.

Users and the equivalent of Mosquitto's ACL (``provisioning.broker.acl_text``) are RabbitMQ
permissions. The MQTT plugin maps a topic to a routing key on the ``amq.topic`` exchange
(``/`` becomes ``.``, ``+`` becomes ``*``); topic permissions on that exchange say which
routing keys a user may publish to (write) and bind its subscription queue with (read):

- a node (username = node id) writes ``rosma.v1.node.<node>.up.<kind>`` and reads
  ``rosma.v1.node.<node>.down.*``, nothing else;
- central writes every node's ``down`` and reads every node's ``up``.

RabbitMQ 3.10 (Debian 12) speaks MQTT 3.1 and 3.1.1 only, not MQTT 5: clients connect with
``Settings(protocol=4)``. It refuses a publish outside the user's topic permissions by closing
the connection (MQTT 3.1.1 has no negative PUBACK), a subscription with SUBACK failure 0x80.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

from protocol import topics
from provisioning import tls
from provisioning.local_broker import free_port

log = logging.getLogger(__name__)

RABBITMQ_LIB = Path("/usr/lib/rabbitmq/bin")  # Debian: the real scripts (the /usr/sbin ones switch user)
EXCHANGE = "amq.topic"  # the MQTT plugin's default exchange
VHOST = "/"
POLL_INTERVAL = 0.1
PREFIX_KEY = topics.PREFIX.replace("/", ".")  # "rosma.v1.node"
HASHING = "rabbit_password_hashing_sha256"  # RabbitMQ's default since 3.6


def find_script(name: str) -> str | None:
    """Path of a RabbitMQ script (``rabbitmq-server``, ``rabbitmqctl``), or None if not installed.

    Prefers Debian's ``/usr/lib/rabbitmq/bin`` over ``/usr/sbin``, whose wrappers switch to
    the ``rabbitmq`` account and its home (cookie, database) before running the command.
    """
    direct = RABBITMQ_LIB / name
    if direct.exists():
        return str(direct)
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"]))


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's SHA-256 password hash: base64(salt + sha256(salt + password)), 4-byte salt."""
    salt = secrets.token_bytes(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode("utf-8")).digest()).decode("ascii")


def _node_key(node_id: str) -> str:
    topics.up(node_id, topics.UP_EVENTS)  # raises ValueError for a bad node id
    return re.escape(node_id)


def node_permissions(node_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """``(resource permissions, topic permissions on amq.topic)`` of one node, as RabbitMQ regexps.

    Resources: its own MQTT subscription queues (``mqtt-subscription-<client id>qos0/1``; the
    client id is the node id) and publishing to ``amq.topic``. Topics: as the module docstring.
    """
    key = _node_key(node_id)
    own = rf"^(amq\.topic|mqtt-subscription-{key}qos[01])$"
    resources = {"configure": rf"^mqtt-subscription-{key}qos[01]$", "write": own, "read": own}
    prefix = re.escape(PREFIX_KEY)
    topic = {"write": rf"^{prefix}\.{key}\.up\.[^.*#]+$", "read": rf"^{prefix}\.{key}\.down\.([^.*#]+|#|\*)$"}
    return resources, topic


def central_permissions(user: str) -> tuple[dict[str, str], dict[str, str]]:
    """Central's permissions: its own subscription queues; read every node's up, write every node's down."""
    key = re.escape(user)
    own = rf"^(amq\.topic|mqtt-subscription-{key}qos[01])$"
    resources = {"configure": rf"^mqtt-subscription-{key}qos[01]$", "write": own, "read": own}
    prefix = re.escape(PREFIX_KEY)
    topic = {
        "write": rf"^{prefix}\.[^.*#]+\.down\.[^.*#]+$",
        "read": rf"^{prefix}\.([^.*#]+|\*)\.up\.([^.*#]+|#|\*)$",
    }
    return resources, topic


def definitions(users: Mapping[str, str], central_users: Iterable[str]) -> dict:
    """RabbitMQ definitions (the JSON ``rabbitmqctl import_definitions`` reads) for these users.

    ``users`` maps username to password; names in ``central_users`` get central's permissions,
    every other user a node's. Raises ValueError for a node name that is no node id.
    """
    central = set(central_users)
    out: dict = {"vhosts": [{"name": VHOST}], "users": [], "permissions": [], "topic_permissions": []}
    for name, password in users.items():
        resources, topic = central_permissions(name) if name in central else node_permissions(name)
        out["users"].append(
            {"name": name, "password_hash": password_hash(password), "hashing_algorithm": HASHING, "tags": []}
        )
        out["permissions"].append({"user": name, "vhost": VHOST, **resources})
        out["topic_permissions"].append({"user": name, "vhost": VHOST, "exchange": EXCHANGE, **topic})
    return out


class LocalRabbitMQ:
    """One RabbitMQ node with the MQTT plugin, its users and permissions, in ``directory``.

    ``users`` maps username to password; ``central_user`` names the central user(s). ``tls``
    (default True): the MQTT listener is TLS with the CA in ``ca_path`` (made once, reused).
    ``port`` is the MQTT port (free by default). The attribute names match ``LocalBroker``'s
    where the harness uses them (``port``, ``ca_path``, ``users``, ``directory``, ``start``,
    ``stop``, ``add_users``).
    """

    def __init__(
        self,
        directory: str | Path,
        users: Mapping[str, str],
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        central_user: str | Iterable[str] = "central",
        tls: bool = True,
        node_name: str | None = None,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.users = dict(users)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.dist_port = free_port(host)
        self.central_users = [central_user] if isinstance(central_user, str) else list(central_user)
        self.tls = tls
        self.node_name = node_name or f"rosma-{secrets.token_hex(4)}@localhost"
        self.process: subprocess.Popen[bytes] | None = None

    # ---- files ---------------------------------------------------------------------------------
    @property
    def tls_dir(self) -> Path:
        return self.directory / "tls"

    @property
    def ca_path(self) -> Path | None:
        """The CA certificate clients trust; None without TLS. Exists after ``start()``."""
        return self.tls_dir / tls.CA_CERT_NAME if self.tls else None

    @property
    def log_dir(self) -> Path:
        return self.directory / "log"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("broker not started")
        return self.process.pid

    def env(self) -> dict[str, str]:
        """The environment for this node's server and CLI: everything under ``directory``."""
        d = self.directory
        return {
            **os.environ,
            "HOME": str(d),  # the Erlang cookie: $HOME/.erlang.cookie, shared by server and rabbitmqctl
            "RABBITMQ_NODENAME": self.node_name,
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),  # not /etc/rabbitmq's (it names the node)
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.log_dir),
            "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(d / "plugins-expand"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def write_files(self) -> Path:
        """Write the env file, enabled plugins, definitions, TLS files and ``rabbitmq.conf``; return the config."""
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        (d / "rabbitmq-env.conf").write_text("# every setting comes from the environment\n")
        (d / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")  # what rabbitmq-plugins enable --offline writes
        defs = d / "definitions.json"
        defs.write_text(json.dumps(definitions(self.users, self.central_users), indent=1))
        defs.chmod(0o600)
        lines = [
            "# Rosma's private RabbitMQ node, generated by provisioning.rabbitmq; do not edit by hand.",
            "listeners.tcp = none",  # no AMQP 0-9-1: only MQTT
            "loopback_users = none",
            f"load_definitions = {defs}",
            "log.console = false",
            "log.file = rabbit.log",
            "log.file.level = info",
            "mqtt.allow_anonymous = false",
            f"mqtt.vhost = {VHOST}",
            f"mqtt.exchange = {EXCHANGE}",
        ]
        if self.tls:
            ca = tls.make_ca(self.tls_dir)
            cert, key = self.tls_dir / f"{tls.SERVER_NAME}.crt", self.tls_dir / f"{tls.SERVER_NAME}.key"
            if not tls.server_cert_usable(ca, cert, key, [self.host, *tls.LOOPBACK_NAMES]):
                cert, key = tls.make_server_cert(ca, self.tls_dir, [self.host])
            lines += [
                "mqtt.listeners.tcp = none",
                f"mqtt.listeners.ssl.default = {self.host}:{self.port}",
                f"ssl_options.cacertfile = {ca.cert}",
                f"ssl_options.certfile = {cert}",
                f"ssl_options.keyfile = {key}",
                "ssl_options.verify = verify_none",  # passwords identify clients, as with Mosquitto
                "ssl_options.fail_if_no_peer_cert = false",
                "ssl_options.versions.1 = tlsv1.3",
                "ssl_options.versions.2 = tlsv1.2",
            ]
        else:
            lines.append(f"mqtt.listeners.tcp.default = {self.host}:{self.port}")
        config = d / "rabbitmq.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    # ---- process -------------------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> LocalRabbitMQ:
        """Write the files and start ``rabbitmq-server``; return once MQTT accepts connections.

        Raises FileNotFoundError if RabbitMQ is not installed, RuntimeError if the node exits or
        is not ready within ``timeout`` seconds (the message holds its log).
        """
        if self.process is not None:
            raise RuntimeError("broker already running")
        exe = find_script("rabbitmq-server")
        if exe is None:
            raise FileNotFoundError("rabbitmq-server not found (apt-get install rabbitmq-server)")
        self.write_files()
        with open(self.directory / "rabbitmq.out", "ab") as out:
            self.process = subprocess.Popen(
                [exe],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                env=self.env(),
            )
        log.info(
            "started rabbitmq node %s pid %d, MQTT on %s:%d", self.node_name, self.process.pid, self.host, self.port
        )
        try:
            # "wait" waits for the pid file the node writes, then for the broker to have booted
            pid_file = str(self.directory / "rabbitmq.pid")
            self.ctl("wait", pid_file, "--timeout", str(int(timeout)), timeout=timeout + 10)
            self._poll_port(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """Run ``rabbitmqctl -n <node> args...`` against this node; return its output.

        Raises RuntimeError if it fails (with its output) or the node has exited.
        """
        exe = find_script("rabbitmqctl")
        if exe is None:
            raise FileNotFoundError("rabbitmqctl not found")
        run = subprocess.run(
            [exe, "-n", self.node_name, *args],
            env=self.env(),
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if run.returncode != 0:
            raise RuntimeError(
                f"rabbitmqctl {args[0]} failed ({run.returncode}): {run.stdout}{run.stderr}\n{self.output()}"
            )
        return run.stdout

    def add_users(self, users: Mapping[str, str], timeout: float = 60.0) -> None:
        """Add or replace users (node users unless named as central) with their permissions, live.

        One ``rabbitmqctl import_definitions``: a replaced user's password and permissions
        change for new connections.
        """
        self.users.update(users)
        path = self.directory / "add-users.json"
        path.write_text(json.dumps(definitions(users, self.central_users)))
        path.chmod(0o600)
        try:
            self.ctl("import_definitions", str(path), timeout=timeout)
        finally:
            path.unlink(missing_ok=True)
        (self.directory / "definitions.json").write_text(json.dumps(definitions(self.users, self.central_users)))

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the node (SIGTERM: a clean shutdown, then SIGKILL after ``timeout``); idempotent."""
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("rabbitmq pid %d ignored SIGTERM; killing it", proc.pid)
                proc.kill()
                proc.wait()
        log.info("rabbitmq pid %d exited with %s", proc.pid, proc.returncode)

    def log_text(self) -> str:
        """The node's whole log (refused publishes and subscriptions are logged at error level)."""
        path = self.log_dir / "rabbit.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def output(self) -> str:
        """The node's console output and the end of its log (for error messages)."""
        parts = []
        for path in (self.directory / "rabbitmq.out", *sorted(self.log_dir.glob("*.log"))):
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def __enter__(self) -> LocalRabbitMQ:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _poll_port(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq exited before listening:\n{self.output()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"rabbitmq did not listen on {self.port} within {timeout} s:\n{self.output()}")
            time.sleep(POLL_INTERVAL)
