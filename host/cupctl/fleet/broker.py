"""Where the broker is and how to log in: ``mqtt://USER@HOST:PORT`` (``mqtts://`` for TLS), a password
from the environment or a file, CA and client certificates; a connected paho client from them.

The password is never taken from the command line proper, where any user could read it in ``ps``.
"""

from __future__ import annotations

import os
import ssl
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cupctl.fleet import BrokerError

PASSWORD_ENV = "CUPCTL_MQTT_PASSWORD"
_PORTS = {"mqtt": 1883, "mqtts": 8883}
KEEPALIVE_S = 10  # a broker that vanishes without closing the socket is noticed within 1.5x this


@dataclass
class Broker:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    @classmethod
    def from_url(cls, url: str, password_file: str | None = None, ca: str | None = None, cert: str | None = None,
                 key: str | None = None) -> Broker:
        parts = urlsplit(url)
        if parts.scheme not in _PORTS or not parts.hostname:
            raise ValueError("--mqtt %r: expected mqtt://USER@HOST[:PORT] or mqtts://USER@HOST[:PORT]" % url)
        try:
            port = parts.port or _PORTS[parts.scheme]
        except ValueError as e:  # urlsplit checks the port only when asked
            raise ValueError("--mqtt %r: %s" % (url, e))
        password = unquote(parts.password) if parts.password else os.environ.get(PASSWORD_ENV)
        if password_file:
            try:
                password = Path(password_file).read_text().strip()
            except OSError as e:
                raise ValueError("--password-file %s: %s" % (password_file, e.strerror or e))
        if (cert is None) != (key is None):
            raise ValueError("--tls-cert and --tls-key go together (the client certificate and its key)")
        for option, path in (("--tls-ca", ca), ("--tls-cert", cert), ("--tls-key", key)):
            if path and not Path(path).is_file():
                raise ValueError("%s %s: no such file" % (option, path))
        return cls(parts.hostname, port, unquote(parts.username) if parts.username else None, password,
                   parts.scheme == "mqtts" or bool(ca or cert), ca, cert, key)

    @property
    def url(self) -> str:
        user = "%s@" % self.username if self.username else ""
        return "%s://%s%s:%d" % ("mqtts" if self.tls else "mqtt", user, self.host, self.port)

    def client(self, client_id: str | None = None, will: tuple[str, bytes] | None = None) -> mqtt.Client:
        """A paho client (MQTT 5), not yet connected; ``will``: (topic, payload), retained, QoS 1."""
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "cupctl-" + uuid.uuid4().hex[:12],
                             protocol=mqtt.MQTTv5)
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set(ca_certs=self.ca, certfile=self.cert, keyfile=self.key, cert_reqs=ssl.CERT_REQUIRED)
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        client.reconnect_delay_set(min_delay=0.25, max_delay=4)
        client.max_inflight_messages_set(100)
        return client

    def connect(self, client: mqtt.Client, session_expiry_s: int = 0, timeout: float = 10.0) -> bool:
        """Connect, start paho's network thread (which reconnects by itself from then on) and wait for
        the broker's answer. ``session_expiry_s`` > 0 asks the broker to keep the session (subscriptions,
        QoS 1 messages) that long while the client is away. Returns whether it still held one."""
        answered = threading.Event()
        result: dict = {}
        chained = client.on_connect

        def on_connect(c, userdata, flags, reason, properties):
            if not answered.is_set():
                result.update(reason=reason, present=flags.session_present)
                answered.set()
            if chained is not None:
                chained(c, userdata, flags, reason, properties)

        client.on_connect = on_connect
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = session_expiry_s
        try:
            client.connect(self.host, self.port, keepalive=KEEPALIVE_S, clean_start=session_expiry_s == 0,
                           properties=properties)
        except ssl.SSLError as e:
            raise BrokerError("TLS with the broker at %s failed: %s" % (self.url, e.reason or e))
        except OSError as e:
            raise BrokerError("cannot reach the broker at %s: %s" % (self.url, e.strerror or e))
        client.loop_start()
        if not answered.wait(timeout):
            client.loop_stop()
            raise BrokerError("the broker at %s did not answer within %g s" % (self.url, timeout))
        client.on_connect = chained
        if result["reason"].is_failure:
            client.loop_stop()
            client.disconnect()
            raise BrokerError("the broker at %s refused the connection: %s%s" % (
                self.url, result["reason"], " (user name, password or ACL?)" if self.username else
                " (it may want a user: mqtt://USER@HOST)"))
        return result["present"]


def disconnect(client: mqtt.Client, forget_session: bool = False) -> None:
    """Say goodbye (no last will) and stop the network thread; ``forget_session``: drop a kept session."""
    properties = None
    if forget_session:
        properties = Properties(PacketTypes.DISCONNECT)
        properties.SessionExpiryInterval = 0
    client.disconnect(properties=properties)
    client.loop_stop()
