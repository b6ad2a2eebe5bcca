"""Encryption at rest for mailbox passwords and OAuth tokens.

Keys come from MAILSYNC_SECRET_KEYS: a comma-separated list, newest first. The first key
encrypts; every key decrypts, so a key is rotated by putting a new one in front, running
`manage.py mail_rotate_keys`, then dropping the old one. A key is any string of at least 32
characters (a Fernet key from `Fernet.generate_key()` is a good one); it is stretched with
HKDF into the Fernet key actually used, so that a passphrase never reaches the cipher as is.
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """The stored secret was encrypted with a key that is no longer configured."""


def _fernet_key(secret: str) -> bytes:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"crm-mailsync", info=b"secrets-at-rest"
    ).derive(secret.encode())
    return base64.urlsafe_b64encode(derived)


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "MAILSYNC_SECRET_KEYS is empty: mailbox secrets cannot be stored"
        )
    short = [i for i, key in enumerate(keys) if len(key) < 32]
    if short:
        raise ImproperlyConfigured(
            f"MAILSYNC_SECRET_KEYS: key {short[0] + 1} is shorter than 32 characters"
        )
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return _cipher(tuple(settings.MAILSYNC_SECRET_KEYS)).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    try:
        return _cipher(tuple(settings.MAILSYNC_SECRET_KEYS)).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "the secret was encrypted with a key that is not in MAILSYNC_SECRET_KEYS"
        ) from None


def rotate(ciphertext: str) -> str:
    """Re-encrypt with the first (newest) key."""
    if not ciphertext:
        return ""
    try:
        return _cipher(tuple(settings.MAILSYNC_SECRET_KEYS)).rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "the secret was encrypted with a key that is not in MAILSYNC_SECRET_KEYS"
        ) from None
