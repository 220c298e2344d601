"""The cryptographic layer of the log (formats v1 and v2 are identical here): key
wrapping, segment keys, record sealing.

Only `cryptography` primitives are used: X25519, HKDF-SHA256, HMAC-SHA256 and
ChaCha20-Poly1305. Nothing here keeps state; the writer and reader compose these.
See docs/FORMAT.md for the byte layout each function produces.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from monitor.store.keys import Identity, Recipient

FORMAT_VERSION = 2
"""The version this code writes. Version 2 changed only the ECG block body (docs/FORMAT.md)."""
READABLE_VERSIONS = (1, 2)
FILE_KEY_SIZE = 32
SEGMENT_ID_SIZE = 16
TAG_SIZE = 16
STANZA_SIZE = 32 + FILE_KEY_SIZE + TAG_SIZE
HEADER_MAGIC = b"ECGSEG"
HEADER_STRUCT = struct.Struct(">6sBI16s16sI16s")
HEADER_MAC_SIZE = 32
HEADER_SIZE = HEADER_STRUCT.size + HEADER_MAC_SIZE
RECORD_PREFIX = struct.Struct(">BII")
"""version u8, segment number u32, sequence number u32 (big-endian)."""
_ZERO_NONCE = bytes(12)
_INFO_WRAP = b"ecgmon-log v1 x25519"
_INFO_HEADER = b"ecgmon-log v1 header"
_INFO_PAYLOAD = b"ecgmon-log v1 payload"
_AAD_LABEL = b"ecgmon-log"


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def wrap_file_key(
    file_key: bytes, recipient: Recipient, segment_id: bytes, ephemeral_private: bytes
) -> bytes:
    """A stanza: ephemeral X25519 public key, then the file key sealed to `recipient`.

    `ephemeral_private` is 32 fresh random bytes (fixed only in known-answer tests).
    """
    eph = X25519PrivateKey.from_private_bytes(ephemeral_private)
    eph_pub = eph.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    shared = eph.exchange(X25519PublicKey.from_public_bytes(recipient.public_key))
    wrap_key = _hkdf(shared, eph_pub + recipient.public_key, _INFO_WRAP)
    return eph_pub + ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, segment_id)


def unwrap_file_key(stanza: bytes, identity: Identity, segment_id: bytes) -> bytes | None:
    """The file key if `stanza` is addressed to `identity`, else None."""
    if len(stanza) != STANZA_SIZE:
        return None
    eph_pub, sealed = stanza[:32], stanza[32:]
    try:
        shared = identity.exchange(eph_pub)
    except ValueError:  # low-order point: all-zero shared secret
        return None
    wrap_key = _hkdf(shared, eph_pub + identity.public_bytes, _INFO_WRAP)
    try:
        return ChaCha20Poly1305(wrap_key).decrypt(_ZERO_NONCE, sealed, segment_id)
    except InvalidTag:
        return None


@dataclass(frozen=True)
class SegmentHeader:
    """The plaintext, immutable header of a segment (structure only, nothing about the patient)."""

    seg_no: int
    segment_id: bytes
    prev_segment_id: bytes
    prev_count: int
    prev_tag: bytes
    mac: bytes
    version: int = FORMAT_VERSION

    def unsigned_bytes(self) -> bytes:
        return HEADER_STRUCT.pack(
            HEADER_MAGIC,
            self.version,
            self.seg_no,
            self.segment_id,
            self.prev_segment_id,
            self.prev_count,
            self.prev_tag,
        )

    def to_bytes(self) -> bytes:
        return self.unsigned_bytes() + self.mac

    @property
    def chain_start(self) -> bytes:
        """The 'previous tag' the segment's first record is bound to."""
        return self.mac[:TAG_SIZE]

    @classmethod
    def parse(cls, data: bytes) -> SegmentHeader:
        if len(data) != HEADER_SIZE:
            raise ValueError(f"segment header has {len(data)} bytes, expected {HEADER_SIZE}")
        magic, version, seg_no, sid, psid, pcount, ptag = HEADER_STRUCT.unpack(
            data[: HEADER_STRUCT.size]
        )
        if magic != HEADER_MAGIC:
            raise ValueError("segment header has a wrong magic")
        return cls(seg_no, sid, psid, pcount, ptag, data[HEADER_STRUCT.size :], version)


@dataclass(frozen=True)
class SegmentKeys:
    """Keys derived from one segment's file key; live in memory only."""

    header_key: bytes
    payload: ChaCha20Poly1305

    @classmethod
    def derive(cls, file_key: bytes, segment_id: bytes) -> SegmentKeys:
        return cls(
            _hkdf(file_key, segment_id, _INFO_HEADER),
            ChaCha20Poly1305(_hkdf(file_key, segment_id, _INFO_PAYLOAD)),
        )


def header_mac(keys: SegmentKeys, unsigned: bytes) -> bytes:
    mac = hmac.HMAC(keys.header_key, hashes.SHA256())
    mac.update(unsigned)
    return mac.finalize()


def verify_header_mac(keys: SegmentKeys, header: SegmentHeader) -> bool:
    mac = hmac.HMAC(keys.header_key, hashes.SHA256())
    mac.update(header.unsigned_bytes())
    try:
        mac.verify(header.mac)
    except InvalidSignature:
        return False
    return True


def record_nonce(seq: int) -> bytes:
    """Sequence numbers never repeat within a segment, and each segment has its own key."""
    return seq.to_bytes(12, "big")


def record_aad(
    segment_id: bytes, seq: int, prev_tag: bytes, version: int = FORMAT_VERSION
) -> bytes:
    """Binds the record's format version, segment, position and predecessor."""
    return _AAD_LABEL + bytes([version]) + segment_id + struct.pack(">I", seq) + prev_tag


def seal_record(
    keys: SegmentKeys,
    seg_no: int,
    segment_id: bytes,
    seq: int,
    prev_tag: bytes,
    padded_plaintext: bytes,
    version: int = FORMAT_VERSION,
) -> bytes:
    """The record body as stored: prefix then ciphertext+tag."""
    ct = keys.payload.encrypt(
        record_nonce(seq), padded_plaintext, record_aad(segment_id, seq, prev_tag, version)
    )
    return RECORD_PREFIX.pack(version, seg_no, seq) + ct


def open_record(
    keys: SegmentKeys, segment_id: bytes, seq: int, prev_tag: bytes, body: bytes
) -> bytes | None:
    """The padded plaintext, or None if the record fails authentication.

    The AAD takes the version from the body's own prefix, so a changed version byte
    fails authentication like any other change.
    """
    try:
        return keys.payload.decrypt(
            record_nonce(seq),
            body[RECORD_PREFIX.size :],
            record_aad(segment_id, seq, prev_tag, body[0]),
        )
    except InvalidTag:
        return None
