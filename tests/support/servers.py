"""Real mail servers for the mailsync tests. No mocks: the code under test speaks IMAP and SMTP.

- `Dovecot`: a throwaway Dovecot 2.3 instance (config, sockets, logs, Maildirs in a temp dir) with
  an implicit-TLS port and a STARTTLS port, users added at run time, XOAUTH2 through a local token
  introspection endpoint, and helpers that act as the user over verified TLS.
- `LineServer`: tiny TCP servers that fail the way a rep's settings can: certificates that do not
  verify (self-signed, unknown CA, expired, other host name), POP3 on the IMAP port, silence.
- `SMTPServer`: aiosmtpd on a STARTTLS port and an implicit-TLS port, AUTH PLAIN/LOGIN/XOAUTH2,
  scripted rejections, captured messages.
- `CertAuthority`: the trustme CA they share; `client_context()` gives a VERIFYING context for it.

Everything binds to 127.0.0.1 only. See conftest.py for the fixtures.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno
import grp
import imaplib
import ipaddress
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from imap_tools import MailBox
from imap_tools.utils import encode_folder

HOST = "127.0.0.1"
"""What every test server binds to and what tests connect to; the certificates name it (and
"localhost", which resolves to it here)."""

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
INSTALL_HINT = "install it with `apt-get install dovecot-imapd` (bin/system-packages does, as root)"


def free_port() -> int:
    """A loopback port nothing listens on right now (the kernel picks it; tiny race until used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait_port(port: int, deadline: float, check: Callable[[], None] | None = None) -> None:
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            if check:
                check()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


# --------------------------------------------------------------------------------------------
# Certificates


class CertAuthority:
    """A trustme CA with its PEM written to `ca_file`, for servers and verifying clients."""

    def __init__(self, directory: Path, name: str = "ca", ca: trustme.CA | None = None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = ca or trustme.CA(organization_name=f"CRM tests {name}")
        self.ca_file = self.directory / f"{name}.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._count = 0

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context (hostname checked) that trusts only this CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def issue(self, *identities: str, **kwargs) -> trustme.LeafCert:
        """A leaf for `identities` (default localhost and 127.0.0.1); kwargs: not_before/after."""
        return self.ca.issue_cert(*(identities or ("localhost", HOST)), **kwargs)

    def server_context(self, *identities: str, **kwargs) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.issue(*identities, **kwargs).configure_cert(ctx)
        return ctx

    def write_leaf(self, *identities: str, **kwargs) -> tuple[Path, Path]:
        """Writes a leaf (chain PEM, key PEM) into the directory: for servers that read files."""
        self._count += 1
        leaf = self.issue(*identities, **kwargs)
        cert = self.directory / f"leaf{self._count}-cert.pem"
        key = self.directory / f"leaf{self._count}-key.pem"
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        key.write_bytes(leaf.private_key_pem.bytes())
        key.chmod(0o600)
        return cert, key


def self_signed_context(*names: str) -> ssl.SSLContext:
    """A server context whose certificate is its own issuer (OpenSSL verify code 18)."""
    names = names or ("localhost", HOST)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    sans = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        ctx.load_cert_chain(str(cert_path), str(key_path))
    return ctx


# --------------------------------------------------------------------------------------------
# Dovecot


class DovecotError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _OAuthIntrospection:
    """The token introspection endpoint Dovecot's oauth2 passdb POSTs `token=...` to."""

    def __init__(self):
        self.tokens: dict[str, str] = {}  # token -> login
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                token = (form.get("token") or [""])[0]
                owner.requests.append(token)
                login = owner.tokens.get(token)
                body = {"active": True, "username": login} if login else {"active": False}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{HOST}:{self.port}/introspect"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


DOVECOT_CONF = """\
# Throwaway Dovecot for the CRM's mailsync tests, written by tests/support/servers.py.
instance_name = {instance}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = {host}
{users_block}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
mail_max_userip_connections = 200
mail_attribute_dict = file:%h/dovecot-attributes
imap_metadata = yes

ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2

auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
auth_verbose = yes
auth_cache_size = 0
disable_plaintext_auth = yes

passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users/%u
}}

namespace inbox {{
  inbox = yes
  separator = /
{default_mailboxes}{extra_mailboxes}}}
{rawlog}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {host}
    port = {starttls_port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {ssl_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # No auth penalty: every client is 127.0.0.1, and a failed login would delay the next 2-15 s.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

DEFAULT_MAILBOXES = """\
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Archive {
    special_use = \\Archive
    auto = subscribe
  }
  mailbox Spam {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
"""

# Every IMAP session's traffic, client to server in *.in and back in *.out, under the user's home
# (Dovecot writes there only if the directory exists: add_user() makes it).
RAWLOG_CONF = "rawlog_dir = %h/dovecot.rawlog\n"

OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
username_format = %u
active_attribute = active
active_value = true
"""


class Dovecot:
    """A throwaway Dovecot on 127.0.0.1: `ssl_port` (implicit TLS), `starttls_port` (STARTTLS).

    Mail is Maildir under `<root>/mail/<login>` (see `maildir()`), owned by the `dovecot` user when
    run as root. Folders INBOX, Sent (\\Sent), Drafts (\\Drafts), Archive (\\Archive), Spam (\\Junk)
    and Trash (\\Trash) exist for every user; the hierarchy separator is "/".

    `special_use_defaults=False`: only INBOX exists, and no folder has a special-use flag (servers
    that name their Sent folder "Sent Items", "Posta inviata"...). `rawlog=True`: every IMAP
    session is recorded as it went over the wire (see `commands()`).
    """

    host = HOST

    def __init__(
        self,
        authority: CertAuthority,
        root: Path | None = None,
        *,
        special_use_defaults: bool = True,
        rawlog: bool = False,
    ):
        self.special_use_defaults = special_use_defaults
        self.rawlog = rawlog
        if not os.access(DOVECOT, os.X_OK):
            raise DovecotError(f"Dovecot is not installed ({DOVECOT} missing): {INSTALL_HINT}.")
        self.authority = authority
        self.ca: trustme.CA = authority.ca
        self.ca_file: Path = authority.ca_file
        self.root = Path(root or tempfile.mkdtemp(prefix="crm-dovecot-"))
        self.root.chmod(0o755)  # the dovecot and dovenull users must traverse it
        self.conf = self.root / "dovecot.conf"
        self.log_path = self.root / "dovecot.log"
        self.output_path = self.root / "dovecot.out"
        self.users_dir = self.root / "users"
        self.passwords: dict[str, str] = {}
        self.special_use: dict[str, str] = {}  # folder -> \\Archive etc. beyond the defaults
        self.ssl_port = self.starttls_port = 0
        self.process: subprocess.Popen | None = None
        self.oauth: _OAuthIntrospection | None = None
        self._lock = threading.RLock()
        if os.geteuid() == 0:
            owner = pwd.getpwnam("dovecot")
            self.uid, self.gid = owner.pw_uid, owner.pw_gid
            users_block = ""
        else:  # a non-root Dovecot runs every process as us
            self.uid, self.gid = os.getuid(), os.getgid()
            me, group = pwd.getpwuid(self.uid).pw_name, grp.getgrgid(self.gid).gr_name
            users_block = (
                f"default_internal_user = {me}\ndefault_internal_group = {group}\n"
                f"default_login_user = {me}"
            )
        self._users_block = users_block

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 20.0, attempts: int = 3) -> Dovecot:
        started = time.monotonic()
        for sub in ("mail", "home"):
            (self.root / sub).mkdir(exist_ok=True)
        for sub in ("mail", "home"):
            os.chown(self.root / sub, self.uid, self.gid)
        cert, key = self.authority.write_leaf("localhost", HOST)
        self.users_dir.mkdir(exist_ok=True)
        self.users_dir.chmod(0o755)
        self.oauth = _OAuthIntrospection()
        (self.root / "oauth2.conf").write_text(OAUTH2_CONF.format(url=self.oauth.url))
        for attempt in range(attempts):
            self.ssl_port, self.starttls_port = free_port(), free_port()
            self._cert, self._key = cert, key
            self._write_conf()
            log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
            # -F: stay in the foreground, so Popen holds the master pid. Output goes to a file
            # (a pipe nobody reads could fill up and block the master).
            with open(self.output_path, "ab") as output:
                self.process = subprocess.Popen(
                    [DOVECOT, "-F", "-c", str(self.conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            try:
                self._wait_ready(time.monotonic() + timeout)
            except DovecotError as error:
                self._reap()
                in_use = "Address already in use" in self.log(since=log_start) + str(error)
                if in_use and attempt + 1 < attempts:
                    continue
                raise
            except BaseException:
                self._reap()
                raise
            self.startup_seconds = time.monotonic() - started
            return self
        raise AssertionError("unreachable")

    def _write_conf(self) -> None:
        extra = "".join(
            f'  mailbox "{name}" {{\n    special_use = {use}\n  }}\n'
            for name, use in self.special_use.items()
        )
        self.conf.write_text(
            DOVECOT_CONF.format(
                instance=f"crm-test-{os.getpid()}",
                root=self.root,
                host=HOST,
                users_block=self._users_block,
                cert=self._cert,
                key=self._key,
                ssl_port=self.ssl_port,
                starttls_port=self.starttls_port,
                default_mailboxes=DEFAULT_MAILBOXES if self.special_use_defaults else "",
                extra_mailboxes=extra,
                rawlog=RAWLOG_CONF if self.rawlog else "",
            )
        )

    def reload(self) -> None:
        """Re-reads the config (SIGHUP to the master); new sessions get it, open ones do not."""
        assert self.process is not None and self.process.poll() is None, "not running"
        self.process.send_signal(signal.SIGHUP)

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            output = (
                self.output_path.read_text(errors="replace") if self.output_path.exists() else ""
            )
            raise DovecotError(
                f"Dovecot exited with status {self.process.returncode} at start-up.\n"
                f"Output: {output.strip()}\nLog ({self.log_path}):\n{self.log()[-3000:]}"
            )

    def _wait_ready(self, deadline: float) -> None:
        for port in (self.ssl_port, self.starttls_port):
            try:
                _wait_port(port, deadline, self._check_alive)
            except OSError as error:
                raise DovecotError(
                    f"Dovecot did not listen on {HOST}:{port} in time ({error}).\n"
                    f"Log ({self.log_path}):\n{self.log()[-3000:]}"
                ) from error
        # A full greeting on both ports means imap-login runs; the TLS one proves the certificate.
        deadline_left = max(1.0, deadline - time.monotonic())
        with imaplib.IMAP4_SSL(
            HOST, self.ssl_port, ssl_context=self.client_context(), timeout=deadline_left
        ) as imap:
            imap.logout()
        with imaplib.IMAP4(HOST, self.starttls_port, timeout=deadline_left) as imap:
            imap.starttls(ssl_context=self.client_context())
            imap.logout()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the master and wait for it (and so its children) to exit."""
        self._reap(timeout)
        if self.oauth:
            self.oauth.stop()
            self.oauth = None

    def _reap(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self, since: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    # -- users ---------------------------------------------------------------------------------

    def add_user(self, login: str, password: str) -> None:
        """Adds (or re-passwords) a user; idempotent. Logins may not contain "/" or ":", nor
        passwords ":" (passwd-file). A new user can log in at once; after a password change
        this waits (under a second) until Dovecot can see it."""
        if "/" in login or ":" in login + password or "\n" in login + password:
            raise ValueError("logins cannot contain '/' or ':', passwords ':' or newlines")
        if login.startswith("."):
            raise ValueError("logins cannot start with '.'")
        with self._lock:
            if self.passwords.get(login) == password:
                return
            changed = login in self.passwords
            self.passwords[login] = password
            home = self.root / "home" / login
            home.mkdir(exist_ok=True)
            os.chown(home, self.uid, self.gid)
            if self.rawlog:
                (home / "dovecot.rawlog").mkdir(exist_ok=True)
                os.chown(home / "dovecot.rawlog", self.uid, self.gid)
            # One passwd-file per user (the path has %u): a new user's file is read on first
            # lookup. Dovecot re-checks a known file at most once a second (mtime and size).
            path = self.root / "users" / login
            tmp = path.with_name("." + login)
            tmp.write_text(f"{login}:{{PLAIN}}{password}:{self.uid}:{self.gid}::{home}::\n")
            tmp.chmod(0o644)
            written = time.time()
            os.utime(tmp, (written + 1, written + 1))  # a new mtime even within the same second
            os.replace(tmp, path)
            if changed:
                time.sleep(max(0.0, int(written) + 1.05 - time.time()))

    def add_token(self, login: str, token: str) -> None:
        """Makes `token` a valid XOAUTH2/OAUTHBEARER bearer token for `login` (the user must exist
        for the userdb: add_user() first)."""
        if login not in self.passwords:
            raise ValueError(f"add_user({login!r}, ...) first: the userdb must know the user")
        assert self.oauth is not None, "start() first"
        self.oauth.tokens[token] = login

    def revoke_token(self, token: str) -> None:
        assert self.oauth is not None
        self.oauth.tokens.pop(token, None)

    # -- acting as the user --------------------------------------------------------------------

    def client_context(self) -> ssl.SSLContext:
        """A verifying SSL context that trusts the test CA (and only it)."""
        return self.authority.client_context()

    @contextlib.contextmanager
    def mailbox(self, login: str, initial_folder: str | None = None) -> Iterator[MailBox]:
        """An imap_tools MailBox logged in as `login` over implicit TLS with a verifying context."""
        box = MailBox(HOST, self.ssl_port, ssl_context=self.client_context(), timeout=10)
        box.login(login, self.passwords[login], initial_folder=initial_folder)
        try:
            yield box
        finally:
            with contextlib.suppress(Exception):
                box.logout()

    def append(
        self,
        login: str,
        folder: str,
        raw: bytes,
        flags: Iterable[str] = (),
        date: dt.datetime | float | None = None,
    ) -> int:
        """APPENDs `raw` to `folder` as the user and returns its UID (from UIDPLUS APPENDUID).
        `date` sets INTERNALDATE (an aware datetime or a timestamp; default now)."""
        flag_list = "(" + " ".join(flags) + ")" if flags else None
        when = imaplib.Time2Internaldate(date) if date is not None else None
        with self.mailbox(login) as box:
            typ, data = box.client.append(encode_folder(folder), flag_list, when, raw)
        if typ != "OK":
            raise DovecotError(f"APPEND to {folder!r} failed: {data!r}")
        match = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0] or b"")
        if not match:
            raise DovecotError(f"no APPENDUID in {data!r}")
        return int(match.group(2))

    def flags(self, login: str, folder: str) -> dict[int, tuple[str, ...]]:
        """{uid: sorted flags} for every message in `folder`, read with EXAMINE (changes nothing).
        \\Recent is left out: it is per session, not something a client can set."""
        with self.mailbox(login) as box:
            typ, data = box.client.select(encode_folder(folder), readonly=True)
            if typ != "OK":
                raise DovecotError(f"EXAMINE {folder!r} failed: {data!r}")
            if int(data[0]) == 0:
                return {}
            typ, data = box.client.uid("FETCH", "1:*", "(FLAGS)")
        result = {}
        for item in data:
            if not isinstance(item, bytes):
                continue
            uid = re.search(rb"UID (\d+)", item)
            flags = re.search(rb"FLAGS \(([^)]*)\)", item)
            if uid and flags:
                names = [f for f in flags.group(1).decode().split() if f != "\\Recent"]
                result[int(uid.group(1))] = tuple(sorted(names))
        return result

    def status(self, login: str, folder: str) -> dict[str, int]:
        """STATUS (MESSAGES UIDNEXT UIDVALIDITY UNSEEN) of `folder`."""
        with self.mailbox(login) as box:
            return box.folder.status(folder)

    def uidvalidity(self, login: str, folder: str) -> int:
        return int(self.status(login, folder)["UIDVALIDITY"])

    def folders(self, login: str) -> dict[str, tuple[str, ...]]:
        """{folder name: LIST flags}, e.g. {"Sent": ("\\HasNoChildren", "\\Sent"), ...}."""
        with self.mailbox(login) as box:
            return {f.name: f.flags for f in box.folder.list()}

    def create_folder(self, login: str, name: str, special_use: str | None = None) -> None:
        """CREATEs and subscribes `name` ("/"-separated; parents are created too).

        Dovecot 2.3 has no CREATE-SPECIAL-USE and refuses SETMETADATA /private/specialuse, so a
        `special_use` (e.g. "\\Archive") goes into the config and Dovecot reloads: it then applies
        to a folder of that name for EVERY user (use unique names), in new sessions."""
        if special_use and self.special_use.get(name) != special_use:
            if '"' in name or "\\" in name:
                raise ValueError("special_use folder names cannot contain quotes or backslashes")
            with self._lock:
                self.special_use[name] = special_use
                self._write_conf()
                self.reload()
                self._wait_for_new_sessions(login)
        with self.mailbox(login) as box:
            typ, data = box.client.create(encode_folder(name))
            if typ != "OK":
                raise DovecotError(f"CREATE {name!r} failed: {data!r}")
            box.client.subscribe(encode_folder(name))
        if special_use:
            deadline = time.monotonic() + 10
            while special_use not in self.folders(login).get(name, ()):
                if time.monotonic() > deadline:
                    raise DovecotError(f"{name!r} did not get {special_use} after the reload")
                time.sleep(0.05)

    def _wait_for_new_sessions(self, login: str, timeout: float = 10.0) -> None:
        # Right after SIGHUP the master replaces its login processes, and a connection accepted
        # by an old one is dropped (EOF): wait until a whole session works again.
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.mailbox(login):
                    return
            except (imaplib.IMAP4.error, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def doveadm(self, *args: str) -> str:
        """Runs doveadm against this instance; returns stdout, raises DovecotError on failure."""
        result = subprocess.run(
            [DOVEADM, "-c", str(self.conf), *args], capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            raise DovecotError(
                f"doveadm {' '.join(args)} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result.stdout

    def reset_uidvalidity(self, login: str, folder: str) -> int:
        """Gives `folder` a new UIDVALIDITY, keeping its messages (as after a server restore).
        Returns the new value."""
        old = self.uidvalidity(login, folder)
        new = max(old, int(time.time())) + 1
        self.doveadm("mailbox", "update", "-u", login, "--uid-validity", str(new), folder)
        current = self.uidvalidity(login, folder)
        if current != new:
            raise DovecotError(f"UIDVALIDITY of {folder!r} is {current}, wanted {new}")
        return new

    def rawlog_clear(self, login: str) -> None:
        """Forgets the recorded sessions of `login` (so that `commands()` shows only later ones)."""
        assert self.rawlog, "Dovecot(..., rawlog=True) records sessions"
        for path in (self.root / "home" / login / "dovecot.rawlog").iterdir():
            path.unlink()

    def commands(self, login: str, timeout: float = 5.0) -> list[str]:
        """The command lines clients sent as `login`, as Dovecot received them, session after
        session (a literal, e.g. an APPENDed message, shows as its lines). Waits until every
        recorded session has ended with LOGOUT (Dovecot may still be writing after the client
        has its answer)."""
        assert self.rawlog, "Dovecot(..., rawlog=True) records sessions"
        directory = self.root / "home" / login / "dovecot.rawlog"
        deadline = time.monotonic() + timeout
        while True:
            sessions = [
                path.read_bytes().decode(errors="replace")
                for path in sorted(directory.glob("*.in"), key=lambda p: p.stat().st_mtime_ns)
            ]
            lines = [[line for line in text.split("\r\n") if line] for text in sessions]
            ended = all(s and re.match(r"\S+ LOGOUT$", s[-1], re.IGNORECASE) for s in lines)
            if ended or time.monotonic() > deadline:
                return [line for session in lines for line in session]
            time.sleep(0.05)

    def maildir(self, login: str, folder: str = "INBOX") -> Path:
        """The Maildir of a folder (Maildir++: "Archive/2024" is `.Archive.2024`)."""
        base = self.root / "mail" / login
        return base if folder.upper() == "INBOX" else base / ("." + folder.replace("/", "."))


# --------------------------------------------------------------------------------------------
# Small TCP/TLS servers that misbehave


def imap_responder(line: bytes) -> bytes | None:
    """A minimal IMAP server: CAPABILITY, NOOP, LOGOUT; LOGIN/AUTHENTICATE fail; the rest is BAD."""
    parts = line.strip().split(None, 2)
    if len(parts) < 2:
        return b"* BAD Command line too short\r\n"
    tag, command = parts[0], parts[1].upper()
    if command == b"CAPABILITY":
        return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK CAPABILITY completed\r\n"
    if command == b"NOOP":
        return tag + b" OK NOOP completed\r\n"
    if command == b"LOGOUT":
        return None
    if command in (b"LOGIN", b"AUTHENTICATE"):
        return tag + b" NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
    return tag + b" BAD Unknown command\r\n"


def imap_login_refusal(words: bytes) -> Callable[[bytes], bytes | None]:
    """`imap_responder`, but LOGIN and AUTHENTICATE get `<tag> <words>`: a provider's refusal
    verbatim, e.g. b"NO [ALERT] Application-specific password required: ... (Failure)"."""

    def responder(line: bytes) -> bytes | None:
        parts = line.strip().split(None, 2)
        if len(parts) >= 2 and parts[1].upper() in (b"LOGIN", b"AUTHENTICATE"):
            return parts[0] + b" " + words + b"\r\n"
        return imap_responder(line)

    return responder


def imap_refusing_after_login(words: bytes) -> Callable[[bytes], bytes | None]:
    """`imap_responder`, but LOGIN succeeds and every command after it (LIST, SELECT, EXAMINE)
    gets `<tag> <words>`: Microsoft 365's b"BAD User is authenticated but not connected." for a
    mailbox whose IMAP access is turned off."""

    def responder(line: bytes) -> bytes | None:
        parts = line.strip().split(None, 2)
        if len(parts) >= 2 and parts[1].upper() == b"LOGIN":
            return parts[0] + b" OK LOGIN completed\r\n"
        if len(parts) >= 2 and parts[1].upper() in (b"LIST", b"LSUB", b"SELECT", b"EXAMINE"):
            return parts[0] + b" " + words + b"\r\n"
        return imap_responder(line)

    return responder


def pop3_responder(line: bytes) -> bytes | None:
    command = line.strip().split(b" ", 1)[0].upper()
    if command == b"QUIT":
        return None
    if command == b"CAPA":
        return b"+OK Capability list follows\r\nUSER\r\n.\r\n"
    return b"-ERR Unknown command\r\n"


class LineServer:
    """A threaded TCP server on 127.0.0.1: optional TLS, then a banner, then one reply per line
    (`responder` returns the reply, or None to say goodbye and hang up). `silent` servers accept
    and then never send a byte (nor complete a TLS handshake)."""

    host = HOST

    def __init__(
        self,
        name: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        banner: bytes | None = None,
        responder: Callable[[bytes], bytes | None] | None = None,
        goodbye: bytes = b"",
        silent: bool = False,
        ca_file: Path | None = None,
    ):
        self.name = name
        self.ssl_context = ssl_context
        self.banner = banner
        self.responder = responder
        self.goodbye = goodbye
        self.silent = silent
        self.ca_file = ca_file
        """The PEM of the CA that signed this server's certificate, where there is one."""
        self.connections = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._open: set[socket.socket] = set()
        self._sock = socket.create_server((HOST, 0))
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"{name}-accept", daemon=True)
        self._thread.start()

    def __repr__(self):
        return f"<LineServer {self.name} {self.host}:{self.port}>"

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            self.connections += 1
            self._open.add(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket):
        try:
            if self.silent:
                self._stop.wait()
                return
            conn.settimeout(30)
            if self.ssl_context:
                conn = self.ssl_context.wrap_socket(conn, server_side=True)
                self._open.add(conn)
            if self.banner:
                conn.sendall(self.banner)
            if not self.responder:
                self._stop.wait()
                return
            reader = conn.makefile("rb")
            while not self._stop.is_set():
                line = reader.readline(65536)
                if not line:
                    return
                reply = self.responder(line)
                if reply is None:
                    if self.goodbye:
                        conn.sendall(self.goodbye.replace(b"{tag}", line.split(b" ", 1)[0]))
                    return
                conn.sendall(reply)
        except (OSError, ssl.SSLError) as error:  # clients that refuse the certificate, mostly
            self.errors.append(error)
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def stop(self):
        self._stop.set()
        self._sock.close()
        for conn in list(self._open):
            with contextlib.suppress(OSError):
                conn.close()
        self._thread.join(5)


IMAP_GREETING = b"* OK IMAP4rev1 ready\r\n"
IMAP_GOODBYE = b"* BYE Logging out\r\n{tag} OK LOGOUT completed\r\n"
POP3_GREETING = b"+OK POP3 server ready\r\n"


def imap_tls_server(
    name: str,
    ssl_context: ssl.SSLContext,
    ca_file: Path | None,
    responder: Callable[[bytes], bytes | None] = imap_responder,
) -> LineServer:
    return LineServer(
        name,
        ssl_context=ssl_context,
        banner=IMAP_GREETING,
        responder=responder,
        goodbye=IMAP_GOODBYE,
        ca_file=ca_file,
    )


def imap_plain_server(name: str = "imap-plain") -> LineServer:
    """IMAP without TLS and without STARTTLS in its CAPABILITY (an old or misconfigured server)."""
    return LineServer(name, banner=IMAP_GREETING, responder=imap_responder, goodbye=IMAP_GOODBYE)


def pop3_line_server(ssl_context: ssl.SSLContext | None = None) -> LineServer:
    return LineServer(
        "pop3s" if ssl_context else "pop3",
        ssl_context=ssl_context,
        banner=POP3_GREETING,
        responder=pop3_responder,
        goodbye=b"+OK Bye\r\n",
    )


class ClosedPort:
    """A loopback port where nothing listens: connecting is refused at once."""

    host = HOST

    def __init__(self):
        self.port = free_port()

    def __repr__(self):
        return f"<ClosedPort {self.host}:{self.port}>"


# --------------------------------------------------------------------------------------------
# SMTP


class Received(NamedTuple):
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


class Script(NamedTuple):
    code: int
    message: str


SMTP_STAGES = ("auth", "mail", "rcpt", "data")


class _SMTPHandler:
    def __init__(self, owner: SMTPServer):
        self.owner = owner

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        if reply := self.owner._scripted("mail"):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if reply := self.owner._scripted("rcpt"):
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if reply := self.owner._scripted("data"):
            return reply
        data = envelope.original_content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        self.owner.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), data))
        return "250 2.0.0 OK: queued"

    async def auth_XOAUTH2(self, server, args):  # noqa: N802
        """SASL XOAUTH2 as Gmail does it: bad tokens get a 334 JSON error, then 535."""
        if reply := self.owner._scripted("auth"):
            return AuthResult(success=False, handled=False, message=reply)
        if len(args) > 1:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except ValueError:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            blob = await server.challenge_auth(b"", encode_to_b64=False)
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)
        parts = blob.decode(errors="replace").split("\x01")
        fields = dict(part.split("=", 1) for part in parts if "=" in part)
        login = fields.get("user", "")
        token = fields.get("auth", "").removeprefix("Bearer ")
        if login and self.owner.tokens.get(token) == login:
            self.owner.authenticated.append(("XOAUTH2", login))
            return AuthResult(success=True, auth_data=LoginPassword(login.encode(), token.encode()))
        error = {"status": "400", "schemes": "Bearer", "scope": "https://mail.google.com/"}
        response = await server.challenge_auth(json.dumps(error))
        if not isinstance(response, bytes):
            return AuthResult(success=False, handled=True)
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and Password not accepted"
        )


class _ImplicitTLSSMTP(SMTP):
    """aiosmtpd 1.4 counts only STARTTLS as TLS for auth_require_tls, so an implicit-TLS port
    would never offer AUTH: mark such connections as TLS (only the attribute's truth is used)."""

    def connection_made(self, transport):
        super().connection_made(transport)
        if self._tls_protocol is None and transport.get_extra_info("sslcontext") is not None:
            self._tls_protocol = transport


class _ImplicitTLSController(Controller):
    def factory(self):
        return _ImplicitTLSSMTP(self.handler, **self.SMTP_kwargs)


class SMTPServer:
    """aiosmtpd on `starttls_port` (STARTTLS required) and `ssl_port` (implicit TLS), both with
    AUTH PLAIN/LOGIN/XOAUTH2 required before MAIL. Received messages land in `messages`."""

    host = HOST

    def __init__(self, authority: CertAuthority, server_hostname: str = "localhost"):
        self.authority = authority
        self.ca: trustme.CA = authority.ca
        self.ca_file: Path = authority.ca_file
        self.server_hostname = server_hostname
        self.users: dict[str, str] = {}
        self.tokens: dict[str, str] = {}  # token -> login
        self.messages: list[Received] = []
        self.authenticated: list[tuple[str, str]] = []  # (mechanism, login), in order
        self._scripts: dict[str, deque[Script]] = {stage: deque() for stage in SMTP_STAGES}
        self._lock = threading.Lock()
        self._handler = _SMTPHandler(self)
        self._controllers: list[Controller] = []
        self.starttls_port = self.ssl_port = 0

    # -- API -----------------------------------------------------------------------------------

    def add_user(self, login: str, password: str) -> None:
        self.users[login] = password

    def add_token(self, login: str, token: str) -> None:
        """Makes `token` a valid XOAUTH2 bearer token for `login`."""
        self.tokens[token] = login

    def script(self, stage: str, code: int, message: str, times: int = 1) -> None:
        """The next `times` commands of `stage` ("auth", "mail", "rcpt" or "data") get
        `code message` instead of being processed, e.g. script("rcpt", 550, "5.1.1 User unknown").
        Scripts queue up in order per stage. Note smtplib's login() tries PLAIN, then LOGIN after
        any failure: script "auth" twice (times=2) to fail a login() call."""
        if stage not in SMTP_STAGES:
            raise ValueError(f"stage must be one of {SMTP_STAGES}, not {stage!r}")
        with self._lock:
            self._scripts[stage].extend([Script(code, message)] * times)

    def reset(self) -> None:
        """Forgets messages, scripts and the authenticated log (users and tokens stay)."""
        with self._lock:
            self.messages.clear()
            self.authenticated.clear()
            for queue in self._scripts.values():
                queue.clear()

    def client_context(self) -> ssl.SSLContext:
        return self.authority.client_context()

    def _scripted(self, stage: str) -> str | None:
        with self._lock:
            if self._scripts[stage]:
                code, message = self._scripts[stage].popleft()
                return f"{code} {message}"
        return None

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        if reply := self._scripted("auth"):
            return AuthResult(success=False, handled=False, message=reply)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        if login in self.users and self.users[login] == password:
            self.authenticated.append((mechanism, login))
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    # -- life cycle ----------------------------------------------------------------------------

    def start(self, attempts: int = 3) -> SMTPServer:
        started = time.monotonic()
        tls = self.authority.server_context("localhost", HOST)
        common = {
            "hostname": HOST,
            "server_hostname": self.server_hostname,
            "authenticator": self._authenticator,
            "auth_required": True,
            "auth_require_tls": True,
            "ready_timeout": 10,
        }
        starttls = (Controller, {"tls_context": tls, "require_starttls": True})
        implicit = (_ImplicitTLSController, {"ssl_context": tls})
        for controller_class, kwargs in (starttls, implicit):
            for attempt in range(attempts):
                controller = controller_class(self._handler, port=free_port(), **common, **kwargs)
                try:
                    controller.start()
                except OSError as error:
                    if error.errno == errno.EADDRINUSE and attempt + 1 < attempts:
                        continue
                    raise
                break
            self._controllers.append(controller)
        self.starttls_port = self._controllers[0].port
        self.ssl_port = self._controllers[1].port
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        while self._controllers:
            self._controllers.pop().stop()


# --------------------------------------------------------------------------------------------
# IMAP XOAUTH2 as Google and Microsoft speak it (Dovecot's oauth2 passdb answers in its own words)

GMAIL_XOAUTH2_ERROR = b'{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}'
GMAIL_XOAUTH2_REFUSAL = b"NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)"


class ImapXOAuth2:
    """A scripted IMAP server's AUTHENTICATE XOAUTH2, as Gmail does it: `+ ` for the client's
    response; a known token for its user is OK, anything else gets the base64 JSON error
    challenge, and once the client has answered that (with an empty line, as it must) the
    tagged `refusal`. `responses` keeps what clients sent, decoded; `answers_to_error` the
    lines they sent after the error challenge. CAPABILITY says AUTH=XOAUTH2 unless
    `advertise=False`. One client at a time."""

    def __init__(self, *, refusal: bytes = GMAIL_XOAUTH2_REFUSAL, advertise: bool = True):
        self.tokens: dict[str, str] = {}  # token -> login
        self.refusal = refusal
        self.advertise = advertise
        self.responses: list[str] = []
        self.answers_to_error: list[bytes] = []
        self._pending: bytes | None = None  # the tag of an AUTHENTICATE in progress
        self._refused = False

    def add_token(self, login: str, token: str) -> None:
        self.tokens[token] = login

    def __call__(self, line: bytes) -> bytes | None:
        if self._pending is not None:
            return self._continue(line)
        parts = line.strip().split(None, 2)
        if len(parts) >= 2 and parts[1].upper() == b"CAPABILITY":
            mechanisms = b"AUTH=PLAIN AUTH=XOAUTH2" if self.advertise else b"AUTH=PLAIN"
            return b"* CAPABILITY IMAP4rev1 " + mechanisms + b"\r\n" + parts[0] + b" OK done\r\n"
        if len(parts) == 3 and parts[1].upper() == b"AUTHENTICATE":
            if parts[2].strip().upper() != b"XOAUTH2":
                return parts[0] + b" NO [CANNOT] Unsupported mechanism\r\n"
            self._pending, self._refused = parts[0], False
            return b"+ \r\n"
        if len(parts) >= 2 and parts[1].upper() == b"LIST":
            return (
                b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
                b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n' + parts[0] + b" OK LIST done\r\n"
            )
        return imap_responder(line)

    def _continue(self, line: bytes) -> bytes:
        tag = self._pending
        assert tag is not None
        if self._refused:
            self.answers_to_error.append(line.rstrip(b"\r\n"))
            self._pending = None
            return tag + b" " + self.refusal + b"\r\n"
        try:
            response = base64.b64decode(line.strip(), validate=True).decode()
        except ValueError:
            self._pending = None
            return tag + b" BAD Invalid base64\r\n"
        self.responses.append(response)
        fields = dict(part.split("=", 1) for part in response.split("\x01") if "=" in part)
        token = fields.get("auth", "").removeprefix("Bearer ")
        if fields.get("user") and self.tokens.get(token) == fields.get("user"):
            self._pending = None
            return tag + b" OK Success\r\n"
        self._refused = True
        return b"+ " + base64.b64encode(GMAIL_XOAUTH2_ERROR) + b"\r\n"
