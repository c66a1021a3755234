"""A real MQTT broker for tests and benchmarks: Debian's mosquitto on a free loopback port.

Its own config, password file and ACL live in a folder of the caller's; persistence is on, so a
restart keeps retained messages and durable sessions as a clinic's broker would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

# The ACL docs/mqtt.md gives: an operator account, and devices confined to their own topics by %u.
ACL = """\
user clinic
topic read cupctl/#
topic write cupctl/+/cmd

pattern write cupctl/%u/telemetry
pattern write cupctl/%u/event
pattern write cupctl/%u/status
pattern write cupctl/%u/result
pattern read cupctl/%u/cmd
"""


def executable() -> str | None:
    """mosquitto's path: Debian puts it in /usr/sbin, which a non-root PATH may lack."""
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    def __init__(self, folder: Path, users: dict[str, str], acl: str = ACL, port: int | None = None,
                 tls: bool = False):
        """``tls``: a second listener, ``tls_port``, with a certificate of this folder's own CA
        (``ca.crt``; ``client.crt`` and ``client.key`` for a client), which asks clients for theirs."""
        self.exe = executable()
        if self.exe is None:
            raise FileNotFoundError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.users = users
        passwd = self.folder / "passwd"
        passwd.write_text("")
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        for user, password in users.items():
            subprocess.run([tool, "-b", str(passwd), user, password], check=True, capture_output=True)
        (self.folder / "acl").write_text(acl)
        (self.folder / "data").mkdir(exist_ok=True)
        # user root: started as root, mosquitto would otherwise drop to a user that cannot read this folder.
        (self.folder / "mosquitto.conf").write_text(
            "listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\nacl_file %s\n"
            "persistence true\npersistence_location %s/\nmax_queued_messages 100000\nuser root\n"
            "log_dest file %s\nlog_type error\nlog_type warning\nlog_type notice\n" % (
                self.port, passwd, self.folder / "acl", self.folder / "data", self.folder / "mosquitto.log"))
        self.tls_port = None
        if tls:
            self.tls_port = free_port()
            make_certificates(self.folder)
            with open(self.folder / "mosquitto.conf", "a") as conf:
                conf.write("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n" % (
                    self.tls_port, self.folder / "ca.crt", self.folder / "broker.crt", self.folder / "broker.key"))
        self.proc: subprocess.Popen | None = None
        self.url = "mqtt://%%s@127.0.0.1:%d" % self.port  # % user

    def start(self, timeout: float = 15.0) -> Mosquitto:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.folder / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("mosquitto exited: %s %s" % (self.proc.stderr.read().decode()[-500:],
                                                                 self.log()[-500:]))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not listen on port %d within %g s" % (self.port, timeout))
                time.sleep(0.05)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): mosquitto saves its persistence file first."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        try:
            return (self.folder / "mosquitto.log").read_text()
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def make_certificates(folder: Path) -> None:
    """A CA, a broker certificate for 127.0.0.1 and a client certificate, all signed by that CA."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def issue(name, issuer, issuer_key, ca=False, san=None):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer or subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(issuer_key or key, hashes.SHA256())
        (folder / (name + ".crt")).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / (name + ".key")).write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return cert, key

    ca, ca_key = issue("ca", None, None, ca=True)
    issue("broker", ca.subject, ca_key, san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    issue("client", ca.subject, ca_key)
