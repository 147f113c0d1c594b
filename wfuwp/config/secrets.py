"""Passwords in the config file: the `Secret` value, its key, and AES-256-GCM at rest.

A `Secret` never shows its clear text in `repr()`, `str()` or f-strings; only `reveal()` returns it.
Stored secrets look like `enc:v1:<base64(nonce || ciphertext || tag)>`, encrypted with a random 32-byte
per-user key kept either in the OS keyring (when the optional `keyring` package has a usable backend)
or in a 0600 file named `key` next to the config file. `WFUWP_NO_KEYRING=1` forces the file.

Also here: reading (never writing) the predecessor's AES-256-CBC scheme, whose key is public.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from wfuwp.errors import ConfigError

MASK = "********"
PREFIX = "enc:v1:"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM nonce size NIST SP 800-38D recommends
# Bound into every ciphertext so a token from some other AES-GCM user cannot pass as ours.
_AAD = b"wfuwp config secret v1"
_KEYRING_SERVICE = "wfuwp"


class KeyStore:
    """Where the per-user key lives: the key file next to the config, or the OS keyring.

    A key file that exists always wins (so installing `keyring` later never orphans old secrets);
    otherwise the keyring is used when it is importable and usable, otherwise a new key file.
    """

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._key: bytes | None = None

    def __repr__(self) -> str:
        return f"KeyStore({str(self.key_file)!r})"

    @property
    def _keyring_user(self) -> str:
        # One key per config directory, so WFUWP_CONFIG pointing elsewhere gets its own key.
        return f"config-key:{self.key_file.parent.resolve()}"

    def load(self) -> bytes | None:
        """Return the key, or None when none was created yet. Raise ConfigError on a damaged key."""
        if self._key is None:
            if self.key_file.exists():
                self._key = _decode_key(self.key_file.read_text(encoding="ascii"), str(self.key_file))
            else:
                stored = _keyring_get(self._keyring_user)
                if stored is not None:
                    self._key = _decode_key(stored, f"the {_KEYRING_SERVICE!r} keyring entry")
        return self._key

    def load_or_create(self) -> bytes:
        """Return the key, creating and storing a random one the first time."""
        key = self.load()
        if key is None:
            key = secrets.token_bytes(KEY_BYTES)
            if not _keyring_set(self._keyring_user, _encode_key(key)):
                key = self._create_key_file(key)
            self._key = key
        return key

    def _create_key_file(self, key: bytes) -> bytes:
        self.key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            # Another process created it between our check and now: use theirs.
            return _decode_key(self.key_file.read_text(encoding="ascii"), str(self.key_file))
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(_encode_key(key))
            handle.flush()
            os.fsync(handle.fileno())
        return key


class Secret:
    """A password: masked everywhere except `reveal()`.

    Built from clear text (`Secret("pw")`) or from the stored form of the file (`Secret.stored(...)`),
    which is decrypted only when first revealed, so a lost key breaks only the commands that need it.
    """

    __slots__ = ("_plain", "_store", "_token")

    def __init__(self, plain: str) -> None:
        self._plain: str | None = plain
        self._token: str | None = None
        self._store: KeyStore | None = None

    @classmethod
    def stored(cls, value: str, store: KeyStore) -> Secret:
        """Wrap a value read from the file: an `enc:v1:` token, or clear text typed in by hand."""
        if not value.startswith(PREFIX):
            return cls(value)
        secret = cls.__new__(cls)
        secret._plain, secret._token, secret._store = None, value, store
        return secret

    def reveal(self, *, where: str = "a password") -> str:
        """Return the clear text. `where` names the key in errors (ConfigError if it cannot be decrypted)."""
        if self._plain is None:
            assert self._token is not None and self._store is not None
            self._plain = decrypt(self._token, self._store, where=where)
        return self._plain

    def to_stored(self, store: KeyStore) -> str:
        """Return the encrypted form for the file; an unchanged token is written back as it was."""
        if self._token is not None and self._store is not None and self._store.key_file == store.key_file:
            return self._token
        return encrypt(self.reveal(), store)

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return secrets.compare_digest(self.reveal().encode(), other.reveal().encode())

    __hash__ = None  # type: ignore[assignment]  # mutable cache inside; equality decrypts


def encrypt(plain: str, store: KeyStore) -> str:
    """Encrypt `plain` with the per-user key (created on first use); return `enc:v1:<base64>`."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(store.load_or_create()).encrypt(nonce, plain.encode("utf-8"), _AAD)
    return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")


def decrypt(token: str, store: KeyStore, *, where: str) -> str:
    """Decrypt an `enc:v1:` token; raise ConfigError naming `where` when the key is missing or wrong."""
    fix = f"set it again with `wfuwp config set {where} ...` (or its environment variable)"
    key = store.load()
    if key is None:
        raise ConfigError(f"cannot decrypt {where}: no key at {store.key_file} or in the keyring; {fix}")
    try:
        raw = base64.b64decode(token[len(PREFIX) :], validate=True)
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _AAD)
        return plain.decode("utf-8")
    except (binascii.Error, ValueError, InvalidTag):
        raise ConfigError(f"cannot decrypt {where} with the key at {store.key_file}: {fix}") from None


def decrypt_predecessor(value: str, *, where: str) -> str:
    """Decrypt a password of the predecessor's `~/.wfuwp/config.json` (`<ivHex>:<cipherHex>`).

    A value that is not in that form is taken as clear text, as the predecessor did. Raise ConfigError
    when it is in that form but does not decrypt.
    """
    iv_hex, sep, cipher_hex = value.partition(":")
    try:
        iv, data = bytes.fromhex(iv_hex), bytes.fromhex(cipher_hex)
    except ValueError:
        return value
    if not sep or len(iv) != 16 or not data or len(data) % 16:
        return value
    decryptor = Cipher(algorithms.AES(_predecessor_key()), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        padded = decryptor.update(data) + decryptor.finalize()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(
            f"cannot decrypt {where} of the predecessor's config: set it after the upgrade with "
            f"`wfuwp config set {where} ...`"
        ) from None


@functools.lru_cache(maxsize=1)
def _predecessor_key() -> bytes:
    # The predecessor's fixed key: scrypt with Node's defaults (N=16384, r=8, p=1). It is public, so it
    # is only ever used to read old files, never to write.
    return Scrypt(salt=b"salt", length=32, n=16384, r=8, p=1).derive(b"wfuwp-config-key-v1")


def _encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii") + "\n"


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"{where} is not a wfuwp key (32 bytes, base64): restore it, or delete it and set the "
            "passwords again"
        )
    return key


def _keyring_usable() -> bool:
    if os.environ.get("WFUWP_NO_KEYRING", "") not in ("", "0"):
        return False
    try:
        import keyring  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    try:
        # The "fail" backend (no usable store) has priority 0.
        return float(getattr(keyring.get_keyring(), "priority", 0)) > 0
    except Exception:
        return False


def _keyring_get(user: str) -> str | None:
    if not _keyring_usable():
        return None
    import keyring

    try:
        value = keyring.get_password(_KEYRING_SERVICE, user)
    except Exception:
        return None
    return value if isinstance(value, str) else None


def _keyring_set(user: str, value: str) -> bool:
    """Store the key in the keyring; True only when it reads back identical."""
    if not _keyring_usable():
        return False
    import keyring

    try:
        keyring.set_password(_KEYRING_SERVICE, user, value)
        return bool(keyring.get_password(_KEYRING_SERVICE, user) == value)
    except Exception:
        return False
