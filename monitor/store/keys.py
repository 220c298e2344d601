"""Identities (private X25519 keys, passphrase-protected files) and recipients (public keys).

The writer of the log only ever needs recipients; an identity is needed to read.
An identity file is JSON holding the public key in clear and the private key sealed
with ChaCha20-Poly1305 under a key derived from the passphrase by scrypt; the scrypt
parameters are recorded in the file and bound, with everything else in the file,
as associated data, so editing any field makes the file fail to open.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from monitor.store import bech32
from monitor.store.errors import (
    FormatVersionError,
    IdentityError,
    KeyFormatError,
    PassphraseError,
)

PUBLIC_KEY_HRP = "ecgmon"
IDENTITY_FORMAT = "ecgmon-identity"
IDENTITY_VERSION = 1
DEFAULT_SCRYPT_LOG_N = 17
"""2^17 (128 MiB, about half a second): an identity is opened rarely, by a person."""
MAX_SCRYPT_LOG_N = 20
"""Refuse files asking for more work than this, so a crafted file cannot exhaust memory."""
MIN_SCRYPT_LOG_N = 10
SCRYPT_R = 8
SCRYPT_P = 1
ROLES = ("patient", "clinician")


@dataclass(frozen=True)
class Recipient:
    """A public key data is encrypted to, with a human label (never secret)."""

    public_key: bytes
    label: str = ""

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise KeyFormatError("a public key is 32 bytes")

    @property
    def text(self) -> str:
        return encode_public_key(self.public_key)

    @classmethod
    def parse(cls, text: str, label: str = "") -> Recipient:
        return cls(decode_public_key(text), label)


def encode_public_key(raw: bytes) -> str:
    """The short text form of a public key: bech32 with prefix 'ecgmon'."""
    return bech32.encode(PUBLIC_KEY_HRP, raw)


def decode_public_key(text: str) -> bytes:
    """Raw 32-byte key from its text form; KeyFormatError naming what is wrong."""
    text = text.strip()
    try:
        hrp, data = bech32.decode(text)
    except ValueError as exc:
        raise KeyFormatError(f"public key {_shorten(text)} is not valid: it {exc}") from None
    if hrp != PUBLIC_KEY_HRP:
        raise KeyFormatError(
            f"public key {_shorten(text)} should start with '{PUBLIC_KEY_HRP}1'"
        )
    if len(data) != 32:
        raise KeyFormatError(f"public key {_shorten(text)} has {len(data)} bytes, not 32")
    return data


def _shorten(text: str) -> str:
    return repr(text if len(text) <= 24 else text[:20] + "...")


@dataclass(frozen=True)
class Identity:
    """A private key that can read the log, held in memory only while needed."""

    private_key: X25519PrivateKey
    role: str = "patient"
    label: str = ""

    @classmethod
    def generate(cls, role: str = "patient", label: str = "") -> Identity:
        return cls(X25519PrivateKey.generate(), role, label)

    @property
    def public_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def recipient(self) -> Recipient:
        return Recipient(self.public_bytes, self.label or self.role)

    def exchange(self, peer_public: bytes) -> bytes:
        return self.private_key.exchange(X25519PublicKey.from_public_bytes(peer_public))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise IdentityError(f"identity file field {what} is missing or not text")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise IdentityError(f"identity file field {what} is not valid base64") from None


def _aad(doc: dict[str, Any]) -> bytes:
    """Everything but the ciphertext, canonically serialised, is authenticated."""
    header = {k: v for k, v in doc.items() if k != "ciphertext"}
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _scrypt_key(passphrase: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=1 << log_n, r=r, p=p).derive(passphrase.encode("utf-8"))


def seal_identity(
    identity: Identity, passphrase: str, *, scrypt_log_n: int = DEFAULT_SCRYPT_LOG_N
) -> bytes:
    """Serialised identity file content (JSON bytes)."""
    if not passphrase:
        raise IdentityError("an empty passphrase would leave the identity unprotected")
    if not MIN_SCRYPT_LOG_N <= scrypt_log_n <= MAX_SCRYPT_LOG_N:
        raise IdentityError(
            f"scrypt work factor must be 2^{MIN_SCRYPT_LOG_N}..2^{MAX_SCRYPT_LOG_N}")
    salt = os.urandom(16)
    nonce = os.urandom(12)
    doc: dict[str, Any] = {
        "format": IDENTITY_FORMAT,
        "version": IDENTITY_VERSION,
        "role": identity.role,
        "label": identity.label,
        "public_key": identity.recipient.text,
        "kdf": {"name": "scrypt", "log_n": scrypt_log_n, "r": SCRYPT_R, "p": SCRYPT_P,
                "salt": _b64(salt)},
        "aead": "chacha20-poly1305",
        "nonce": _b64(nonce),
    }
    key = _scrypt_key(passphrase, salt, scrypt_log_n, SCRYPT_R, SCRYPT_P)
    raw = identity.private_key.private_bytes_raw()
    doc["ciphertext"] = _b64(ChaCha20Poly1305(key).encrypt(nonce, raw, _aad(doc)))
    return (json.dumps(doc, indent=1) + "\n").encode()


def open_identity(content: bytes, passphrase: str, *, source: str = "identity file") -> Identity:
    """Identity from identity file content; IdentityError/PassphraseError with the reason."""
    try:
        doc = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise IdentityError(
            f"{source} is truncated or corrupt (not a complete identity file)") from None
    if not isinstance(doc, dict) or doc.get("format") != IDENTITY_FORMAT:
        raise IdentityError(f"{source} is not an ecgmon identity file")
    version = doc.get("version")
    if not isinstance(version, int):
        raise IdentityError(f"{source} has no format version")
    if version > IDENTITY_VERSION:
        raise FormatVersionError(
            f"{source} has format version {version}, newer than this ecgmon supports "
            f"({IDENTITY_VERSION}): upgrade ecgmon"
        )
    kdf = doc.get("kdf")
    if (not isinstance(kdf, dict) or kdf.get("name") != "scrypt"
            or doc.get("aead") != "chacha20-poly1305"):
        raise IdentityError(f"{source} uses an unknown key derivation or cipher")
    log_n, r, p = kdf.get("log_n"), kdf.get("r"), kdf.get("p")
    if not all(isinstance(v, int) for v in (log_n, r, p)):
        raise IdentityError(f"{source} has malformed scrypt parameters")
    assert isinstance(log_n, int) and isinstance(r, int) and isinstance(p, int)
    if not MIN_SCRYPT_LOG_N <= log_n <= MAX_SCRYPT_LOG_N or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise IdentityError(f"{source} asks for scrypt parameters outside the accepted range")
    salt = _unb64(kdf.get("salt"), "kdf.salt")
    nonce = _unb64(doc.get("nonce"), "nonce")
    ciphertext = _unb64(doc.get("ciphertext"), "ciphertext")
    if len(nonce) != 12 or len(ciphertext) != 48:
        raise IdentityError(f"{source} is truncated or corrupt (sealed key has the wrong size)")
    public = decode_public_key(str(doc.get("public_key", "")))
    key = _scrypt_key(passphrase, salt, log_n, r, p)
    try:
        raw = ChaCha20Poly1305(key).decrypt(nonce, ciphertext, _aad(doc))
    except InvalidTag:
        raise PassphraseError(
            f"wrong passphrase for {source} (or the file was modified)"
        ) from None
    identity = Identity(X25519PrivateKey.from_private_bytes(raw), str(doc.get("role", "")),
                        str(doc.get("label", "")))
    if identity.public_bytes != public:
        raise IdentityError(f"{source}: private key does not match its public key")
    return identity


def read_public_key_of_identity_file(path: Path) -> Recipient:
    """The public key recorded in an identity file, without the passphrase."""
    try:
        doc = json.loads(path.read_text())
        return Recipient.parse(doc["public_key"], str(doc.get("label") or doc.get("role", "")))
    except (OSError, ValueError, KeyError, TypeError):
        raise IdentityError(f"cannot read the public key of identity file {path}") from None


def check_permissions(path: Path) -> None:
    """Refuse an identity file that group or others can read or write."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise IdentityError(f"identity file {path} does not exist") from None
    if os.name == "posix" and mode & 0o077:
        raise IdentityError(
            f"identity file {path} is accessible to other users (mode {mode:04o}); "
            f"it must be private: chmod 600 {path}"
        )


def write_identity_file(
    path: Path, identity: Identity, passphrase: str, *, force: bool = False,
    scrypt_log_n: int | None = None,
) -> None:
    """Create `path` with mode 0600 (never overwriting unless `force`)."""
    if scrypt_log_n is None:
        scrypt_log_n = int(os.environ.get("ECGMON_SCRYPT_LOG_N", DEFAULT_SCRYPT_LOG_N))
    content = seal_identity(identity, passphrase, scrypt_log_n=scrypt_log_n)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise IdentityError(f"{path} already exists; refusing to overwrite an identity") from None
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def load_identity_file(path: Path, passphrase: str) -> Identity:
    """Open an identity file after checking it is private to its owner."""
    check_permissions(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read identity file {path}: {exc.strerror}") from None
    return open_identity(content, passphrase, source=f"identity file {path}")
