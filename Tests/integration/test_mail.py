"""Mail from the real binary to a real SMTP server (aiosmtpd) on loopback: STARTTLS or implicit TLS with
certificate verification against a private CA, AUTH PLAIN and LOGIN, both MIME parts, and an outage that
leaves mail pending until the server is back, then delivers it once."""
import datetime
import email
import email.policy
import html as html_module
import ipaddress
import re
import socket
import sqlite3
import ssl
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from helpers import clean_env, free_port, register, run_flux, wait_until

PASSWORD = "mail test passphrase"


def self_signed(directory, stem, *alternative_names):
    """A self-signed certificate for localhost naming `alternative_names`, and a server context holding it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(list(alternative_names)), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return cert_path, context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost and 127.0.0.1, which Flux trusts through SMTP_CA_FILE."""
    return self_signed(tmp_path_factory.mktemp("smtp-tls"), "cert", x509.DNSName("localhost"),
                       x509.IPAddress(ipaddress.ip_address("127.0.0.1")))


class Recorder:
    def __init__(self):
        self.envelopes = []
        self.logins = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"flux" and auth_data.password == b"s3cret pass"
        if ok:
            self.logins.append(mechanism)
        # handled=False makes aiosmtpd answer 535 itself; with its default it answers nothing at all.
        return AuthResult(success=ok, handled=False)


def smtp_server(port, context, implicit=False, exclude=()):
    recorder = Recorder()
    options = dict(hostname="127.0.0.1", port=port, authenticator=recorder.authenticate, auth_require_tls=True,
                   auth_exclude_mechanism=list(exclude))
    if implicit:
        # aiosmtpd cannot tell an implicit-TLS connection is encrypted and would hide AUTH from it.
        options.update(ssl_context=context, auth_require_tls=False)
    else:
        options.update(tls_context=context, require_starttls=True)
    controller = Controller(recorder, **options)
    controller.start()
    return controller, recorder


def sign_up(server, address):
    """A sign-up, whose verification mail is the one sent (the name must come out escaped in its HTML part)."""
    register(server, address, PASSWORD, name="Ada <Admin>")


def outbox(workdir):
    with sqlite3.connect(workdir / "data" / "flux.sqlite") as db:
        return db.execute("SELECT status, attempts FROM outbox_messages").fetchall()


@pytest.mark.parametrize("scheme, implicit, exclude, mechanism", [
    ("smtp", False, (), "PLAIN"),
    ("smtp", False, ("PLAIN",), "LOGIN"),
    ("smtps", True, (), "PLAIN"),
])
def test_verification_mail_reaches_a_real_smtp_server(workdir, serve, certificate, scheme, implicit, exclude, mechanism):
    cert_path, context = certificate
    port = free_port()
    controller, recorder = smtp_server(port, context, implicit, exclude)
    try:
        server = serve(env=clean_env(SMTP_URL=f"{scheme}://flux:s3cret%20pass@localhost:{port}", SMTP_CA_FILE=cert_path,
                                     MAIL_FROM="Flux Site <hello@flux.example>", PUBLIC_URL="https://flux.example"))
        sign_up(server, "ada@example.com")
        assert wait_until(lambda: recorder.envelopes, 15), server.log_text()
    finally:
        controller.stop()
    envelope = recorder.envelopes[0]
    assert recorder.logins == [mechanism]
    assert envelope.mail_from == "hello@flux.example" and envelope.rcpt_tos == ["ada@example.com"]
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert message["Subject"] == "Confirm your email address for Flux"
    assert message["From"].addresses[0].display_name == "Flux Site"
    assert message["To"].addresses[0].display_name == "Ada <Admin>"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "https://flux.example/account/verify-email#token=" in text
    link = html_module.unescape(re.search(r'href="([^"]+)"', html).group(1))
    assert link.startswith("https://flux.example/account/verify-email#token=") and link in text
    assert "Ada &lt;Admin&gt;" in html and "<Admin>" not in html
    assert outbox(workdir) == [("sent", 1)]
    assert "s3cret" not in server.log_text()


def test_an_smtp_outage_delays_mail_and_loses_nothing(workdir, serve, certificate):
    cert_path, context = certificate
    port = free_port()
    server = serve(env=clean_env(SMTP_URL=f"smtp://flux:s3cret%20pass@localhost:{port}", SMTP_CA_FILE=cert_path))
    sign_up(server, "later@example.com")
    assert wait_until(lambda: outbox(workdir) and outbox(workdir)[0][1] >= 1, 10)
    assert outbox(workdir)[0][0] == "pending"
    controller, recorder = smtp_server(port, context)
    try:
        assert wait_until(lambda: recorder.envelopes, 30), server.log_text()
        time.sleep(3)
    finally:
        controller.stop()
    assert [envelope.rcpt_tos for envelope in recorder.envelopes] == [["later@example.com"]]
    status, attempts = outbox(workdir)[0]
    assert status == "sent" and attempts >= 2


def test_without_smtp_url_mail_is_written_to_files(workdir, serve):
    server = serve()
    sign_up(server, "files@example.com")
    assert wait_until(lambda: list((workdir / "data" / "mail").glob("*.eml")), 10), server.log_text()
    written = next((workdir / "data" / "mail").glob("*.eml"))
    message = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "files@example.com"
    assert any("mail written to a file" in entry.get("message", "") for entry in server.log_entries())


def last_error(workdir):
    with sqlite3.connect(workdir / "data" / "flux.sqlite") as db:
        return db.execute("SELECT status, last_error FROM outbox_messages").fetchone()


def test_no_mail_is_sent_in_clear_or_to_an_unverified_server(workdir, serve, certificate):
    cert_path, context = certificate
    # A server without STARTTLS: refused before any credential or message is sent.
    port = free_port()
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, auth_require_tls=False,
                            authenticator=recorder.authenticate)
    controller.start()
    try:
        server = serve(env=clean_env(SMTP_URL=f"smtp://flux:s3cret%20pass@localhost:{port}"))
        sign_up(server, "clear@example.com")
        assert wait_until(lambda: last_error(workdir) and last_error(workdir)[1], 10)
    finally:
        controller.stop()
        server.stop()
    assert recorder.envelopes == [] and recorder.logins == []
    assert last_error(workdir)[0] == "pending" and "STARTTLS" in last_error(workdir)[1]

    # A server whose certificate nothing vouches for (no SMTP_CA_FILE): the TLS handshake fails.
    untrusted = workdir / "untrusted"
    untrusted.mkdir()
    port = free_port()
    controller, recorder = smtp_server(port, context)
    try:
        server = serve(env=clean_env(SMTP_URL=f"smtp://flux:s3cret%20pass@localhost:{port}", DATA_DIR=untrusted / "data"))
        sign_up(server, "unverified@example.com")
        with_error = lambda: sqlite3.connect(untrusted / "data" / "flux.sqlite").execute(
            "SELECT last_error FROM outbox_messages WHERE last_error IS NOT NULL").fetchone()
        assert wait_until(with_error, 10)
    finally:
        controller.stop()
    assert recorder.envelopes == [] and recorder.logins == []


def test_doctor_checks_the_mail_server_without_printing_its_password(workdir, certificate):
    cert_path, context = certificate
    assert run_flux(["migrate", "--yes"], clean_env(), workdir).returncode == 0
    port = free_port()
    controller, recorder = smtp_server(port, context)
    try:
        good = run_flux(["doctor"], clean_env(SMTP_URL=f"smtp://flux:s3cret%20pass@localhost:{port}", SMTP_CA_FILE=cert_path), workdir)
        wrong = run_flux(["doctor"], clean_env(SMTP_URL=f"smtp://flux:wrong-hunter2@localhost:{port}", SMTP_CA_FILE=cert_path), workdir)
    finally:
        controller.stop()
    assert good.returncode == 0, good.stdout
    assert f"ok    mail: SMTP localhost:{port} answers; TLS verified, login accepted" in good.stdout
    assert recorder.envelopes == []  # a probe sends nothing
    # A warning, so a mail outage never stops the unit's ExecStartPre from starting the site.
    assert wrong.returncode == 0 and f"warn  mail: SMTP localhost:{port}" in wrong.stdout
    assert "hunter2" not in wrong.stdout + wrong.stderr and "s3cret" not in good.stdout + good.stderr
    down = run_flux(["doctor"], clean_env(SMTP_URL=f"smtp://localhost:{free_port()}"), workdir)
    assert down.returncode == 0 and "warn  mail" in down.stdout and "mail waits in the outbox" in down.stdout


class InjectingServer:
    """An SMTP server that pipelines a forged reply after its 220 to STARTTLS, in the same packet, before the TLS
    handshake: what an attacker on the path does to have plaintext taken as the answer to the first encrypted
    command (here a forged EHLO reply without AUTH, so the client would skip the login or give up). After the
    handshake it behaves, so a client that discarded the forgery delivers with AUTH PLAIN."""

    def __init__(self, context):
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.commands = []
        self.messages = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.converse, args=(connection,), daemon=True).start()

    def converse(self, connection):
        buffered = b""

        def line():
            nonlocal buffered
            while b"\r\n" not in buffered:
                chunk = connection.recv(4096)
                if not chunk:
                    raise ConnectionError
                buffered += chunk
            text, buffered = buffered.split(b"\r\n", 1)
            return text.decode()

        try:
            connection.sendall(b"220 localhost ESMTP\r\n")
            assert line().startswith("EHLO")
            connection.sendall(b"250-localhost\r\n250 STARTTLS\r\n")
            assert line() == "STARTTLS"
            connection.sendall(b"220 go ahead\r\n250 localhost forged\r\n")
            connection = self.context.wrap_socket(connection, server_side=True)
            while True:
                command = line()
                self.commands.append(command)
                verb = command.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    connection.sendall(b"250-localhost\r\n250 AUTH PLAIN\r\n")
                elif verb == "AUTH":
                    connection.sendall(b"235 ok\r\n")
                elif verb in ("MAIL", "RCPT"):
                    connection.sendall(b"250 ok\r\n")
                elif verb == "DATA":
                    connection.sendall(b"354 go on\r\n")
                    body = []
                    while (text := line()) != ".":
                        body.append(text)
                    self.messages.append("\n".join(body))
                    connection.sendall(b"250 queued\r\n")
                elif verb == "QUIT":
                    connection.sendall(b"221 bye\r\n")
                    return
                else:
                    connection.sendall(b"500 unknown\r\n")
        except (ConnectionError, OSError, AssertionError):
            pass
        finally:
            connection.close()

    def stop(self):
        self.listener.close()


def test_replies_sent_before_starttls_completed_are_discarded(workdir, serve, certificate):
    cert_path, context = certificate
    injector = InjectingServer(context)
    try:
        server = serve(env=clean_env(SMTP_URL=f"smtp://flux:s3cret%20pass@localhost:{injector.port}", SMTP_CA_FILE=cert_path))
        sign_up(server, "injected@example.com")
        assert wait_until(lambda: injector.messages, 15), (injector.commands, last_error(workdir))
    finally:
        injector.stop()
    # The first encrypted command got the real EHLO reply, so the login happened and the mail went out.
    assert [command.split(" ")[0] for command in injector.commands[:3]] == ["EHLO", "AUTH", "MAIL"], injector.commands
    assert outbox(workdir) == [("sent", 1)]


@pytest.mark.parametrize("scheme, implicit", [("smtp", False), ("smtps", True)])
def test_an_smtp_url_with_an_ip_address_verifies_the_certificates_ip(workdir, serve, certificate, scheme, implicit):
    """SNI cannot carry an IP address, and NIOSSL refused one outright, so `smtp://…@127.0.0.1` failed every
    handshake; the certificate must name the address instead, and one that does not is still refused."""
    cert_path, context = certificate
    port = free_port()
    controller, recorder = smtp_server(port, context, implicit)
    try:
        server = serve(env=clean_env(SMTP_URL=f"{scheme}://flux:s3cret%20pass@127.0.0.1:{port}", SMTP_CA_FILE=cert_path))
        sign_up(server, "by-ip@example.com")
        assert wait_until(lambda: recorder.envelopes, 15), (last_error(workdir), server.log_text()[-2000:])
    finally:
        controller.stop()
        server.stop()
    assert recorder.logins == ["PLAIN"]

    other = workdir / "dns-only"
    other.mkdir()
    dns_only_path, dns_only_context = self_signed(other, "dns-only", x509.DNSName("localhost"))
    port = free_port()
    controller, recorder = smtp_server(port, dns_only_context, implicit)
    try:
        server = serve(env=clean_env(SMTP_URL=f"{scheme}://flux:s3cret%20pass@127.0.0.1:{port}", SMTP_CA_FILE=dns_only_path,
                                     DATA_DIR=other / "data"))
        sign_up(server, "wrong-name@example.com")
        with_error = lambda: sqlite3.connect(other / "data" / "flux.sqlite").execute(
            "SELECT last_error FROM outbox_messages WHERE last_error IS NOT NULL").fetchone()
        assert wait_until(with_error, 10)
    finally:
        controller.stop()
    assert recorder.envelopes == [] and recorder.logins == []
