"""Known-answer vectors of log format v1 (tests/vectors/store_v1.json).

The writer must reproduce the stored bytes exactly from fixed keys; the bytes are
decoded again by a second, minimal reading written here straight from docs/FORMAT.md
with raw `cryptography` calls, and by the product's reader.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from monitor.store import LogReader, LogWriter
from tests.store.vector_inputs import identity, payloads, write_vector_log

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "store_v1.json")
                     .read_text())


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, info).derive(ikm)


def test_writer_reproduces_the_uncompressed_vector(tmp_path: Path) -> None:
    got = write_vector_log(tmp_path / "log.sqlite", compress=False)
    want = VECTORS["uncompressed"]
    assert got[0].hex() == want["header"]
    assert got[1].hex() == want["stanza"]
    assert [r.hex() for r in got[2:]] == want["records"]


def test_zlib_vector_matches_when_zlib_is_the_reference_one(tmp_path: Path) -> None:
    if zlib.compress(b"ecgmon" * 10, 6).hex() != "789c4b4d4ecfcdcf4b258b0400f0d018bb":
        pytest.skip("this zlib compresses differently; the decoding tests still apply")
    got = write_vector_log(tmp_path / "log.sqlite", compress=True)
    assert [r.hex() for r in got[2:]] == VECTORS["zlib"]["records"]


@pytest.mark.parametrize("variant", ["uncompressed", "zlib"])
def test_independent_decoding_from_the_spec(variant: str) -> None:
    vec = VECTORS[variant]
    header, stanza = bytes.fromhex(vec["header"]), bytes.fromhex(vec["stanza"])
    private = X25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["recipient_private"]))
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert header[:6] == b"ECGSEG" and header[6] == 1 and len(header) == 95
    segment_id = header[11:27]
    eph_pub = stanza[:32]
    shared = private.exchange(X25519PublicKey.from_public_bytes(eph_pub))
    wrap_key = _hkdf(shared, eph_pub + public, b"ecgmon-log v1 x25519")
    file_key = ChaCha20Poly1305(wrap_key).decrypt(bytes(12), stanza[32:], segment_id)
    assert file_key.hex() == VECTORS["file_key"]
    mac = hmac.HMAC(_hkdf(file_key, segment_id, b"ecgmon-log v1 header"), hashes.SHA256())
    mac.update(header[:63])
    mac.verify(header[63:])
    aead = ChaCha20Poly1305(_hkdf(file_key, segment_id, b"ecgmon-log v1 payload"))
    prev_tag = header[63:79]
    types, codecs = [], []
    for seq, hex_body in enumerate(vec["records"]):
        body = bytes.fromhex(hex_body)
        version, seg_no, body_seq = struct.unpack(">BII", body[:9])
        assert (version, seg_no, body_seq) == (1, 0, seq)
        aad = b"ecgmon-log" + b"\x01" + segment_id + struct.pack(">I", seq) + prev_tag
        plain = aead.decrypt(seq.to_bytes(12, "big"), body[9:], aad)
        rtype, codec, length = struct.unpack(">BBI", plain[:6])
        assert not any(plain[6 + length:])
        body_bytes = plain[6 : 6 + length]
        codecs.append(codec)
        if codec == 1:
            body_bytes = zlib.decompress(body_bytes)
        if rtype == 1:  # ECG block: t0, fs, sample width, count, then varints
            assert struct.unpack(">qdBI", body_bytes[:21]) == (1_764_057_600_000_000_000,
                                                                130.0, 2, 9)
        types.append(rtype)
        prev_tag = body[-16:]
    assert types == [1, 2, 4, 127]
    assert set(codecs) == ({0} if variant == "uncompressed" else {0, 1})


@pytest.mark.parametrize("variant", ["uncompressed", "zlib"])
def test_reader_decodes_the_vector(tmp_path: Path, variant: str) -> None:
    path = tmp_path / "log.sqlite"
    LogWriter(path, [identity().recipient]).close()  # an empty log with the v1 schema...
    conn = sqlite3.connect(path)  # ...whose contents are replaced by the vector's
    for table in ("segments", "stanzas", "records"):
        conn.execute(f"DELETE FROM {table}")
    vec = VECTORS[variant]
    conn.execute("INSERT INTO segments VALUES (0, ?)", (bytes.fromhex(vec["header"]),))
    conn.execute("INSERT INTO stanzas(seg, body) VALUES (0, ?)", (bytes.fromhex(vec["stanza"]),))
    conn.executemany("INSERT INTO records(body) VALUES (?)",
                     [(bytes.fromhex(r),) for r in vec["records"]])
    conn.commit()
    conn.close()
    with LogReader(path) as reader:
        assert [r.payload for r in reader.records(identity())] == payloads()
        report = reader.verify(identity())
    assert report.ok and report.closed_segments == 1
