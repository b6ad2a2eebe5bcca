"""TLS for IMAP and SMTP: always verifying, never "accept anything".

imaplib, imap-tools and smtplib verify nothing unless handed a context: every connection the
product makes gets one from `client_context()`. An operator may add authorities with
MAILSYNC_CA_FILE, or pin one certificate for one account by its SHA-256 fingerprint.
"""

import hashlib
import ssl

from django.conf import settings

from mailsync.errors import MailError

# OpenSSL verification codes (man 1 verify).
_EXPIRED = {9, 10}  # not yet valid, has expired
_HOSTNAME_MISMATCH = {62, 64}  # host name mismatch, IP address mismatch


def client_context(*, pin: str = "") -> ssl.SSLContext:
    if pin:
        # Pinned: the chain is not checked, the exact certificate is (see check_pin).
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context()
    if settings.MAILSYNC_CA_FILE:
        context.load_verify_locations(cafile=settings.MAILSYNC_CA_FILE)
    return context


def normalize_pin(pin: str) -> str:
    return pin.replace(":", "").replace(" ", "").strip().lower()


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def check_pin(sock: ssl.SSLSocket, pin: str) -> None:
    if not pin:
        return
    der = sock.getpeercert(binary_form=True) or b""
    if fingerprint(der) != normalize_pin(pin):
        raise MailError(
            "tls_untrusted_certificate",
            f"the certificate's SHA-256 fingerprint {fingerprint(der)} is not the pinned one",
            stage="tls",
        )


def error_from_ssl(error: ssl.SSLError, stage: str = "tls") -> MailError:
    """Name a TLS failure by what the rep can do about it."""
    if isinstance(error, ssl.SSLCertVerificationError):
        words = error.verify_message or str(error)
        if error.verify_code in _EXPIRED:
            return MailError("tls_certificate_expired", words, stage=stage)
        if error.verify_code in _HOSTNAME_MISMATCH or "mismatch" in words.lower():
            return MailError("tls_hostname_mismatch", words, stage=stage)
        return MailError("tls_untrusted_certificate", words, stage=stage)
    return MailError("tls_handshake_failed", error.reason or str(error), stage=stage)
