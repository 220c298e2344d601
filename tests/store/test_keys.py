"""Public key text (checksum catches typos) and identity files (passphrase, permissions)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from monitor.store import bech32
from monitor.store.errors import (
    FormatVersionError,
    IdentityError,
    KeyFormatError,
    PassphraseError,
)
from monitor.store.keys import (
    Identity,
    Recipient,
    decode_public_key,
    encode_public_key,
    load_identity_file,
    write_identity_file,
)


def test_bip173_valid_and_invalid_strings() -> None:
    # Test strings from the BIP 173 specification.
    for valid in ("A12UEL5L", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
                  "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w"):
        bech32.decode(valid)
    for invalid in ("pzry9x0s0muk", "1pzry9x0s0muk", "x1b4n0q5v", "li1dgmt3", "A1G7SGD8",
                    "10a06t8", "1qzzfhee"):
        with pytest.raises(ValueError):
            bech32.decode(invalid)


def test_public_key_round_trip_and_every_single_typo_is_caught(patient: Identity) -> None:
    text = patient.recipient.text
    assert text.startswith("ecgmon1") and len(text) < 70
    assert decode_public_key(text) == patient.public_bytes
    assert decode_public_key(text.upper()) == patient.public_bytes
    for i in range(len("ecgmon1"), len(text)):
        for c in "qpz":
            if text[i] != c:
                with pytest.raises(KeyFormatError, match="not valid"):
                    decode_public_key(text[:i] + c + text[i + 1:])
    with pytest.raises(KeyFormatError):
        decode_public_key(text[:-1])  # a character missing
    with pytest.raises(KeyFormatError, match="should start"):
        decode_public_key(bech32.encode("other", patient.public_bytes))
    with pytest.raises(KeyFormatError, match="bytes"):
        decode_public_key(encode_public_key(b"\x01" * 32)[:7] + bech32.encode("ecgmon", b"1")[7:])


def test_identity_file_round_trip_mode_0600(tmp_path: Path, patient: Identity) -> None:
    path = tmp_path / "id.key"
    write_identity_file(path, patient, "correct horse")
    assert (path.stat().st_mode & 0o777) == 0o600
    loaded = load_identity_file(path, "correct horse")
    assert loaded.public_bytes == patient.public_bytes
    assert "correct horse" not in path.read_text()
    doc = json.loads(path.read_text())
    assert doc["kdf"]["name"] == "scrypt" and doc["kdf"]["log_n"] == 10
    with pytest.raises(IdentityError, match="already exists"):
        write_identity_file(path, patient, "x")


def test_wrong_passphrase(tmp_path: Path, patient: Identity) -> None:
    path = tmp_path / "id.key"
    write_identity_file(path, patient, "right")
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        load_identity_file(path, "wrong")


def test_loose_permissions_refused_with_reason(tmp_path: Path, patient: Identity) -> None:
    path = tmp_path / "id.key"
    write_identity_file(path, patient, "pw")
    os.chmod(path, 0o644)
    with pytest.raises(IdentityError, match=r"accessible to other users \(mode 0644\).*chmod 600"):
        load_identity_file(path, "pw")


def test_truncated_identity_file(tmp_path: Path, patient: Identity) -> None:
    path = tmp_path / "id.key"
    write_identity_file(path, patient, "pw")
    content = path.read_bytes()
    for cut in (0, 10, len(content) // 2, len(content) - 5):
        path.write_bytes(content[:cut])
        with pytest.raises(IdentityError, match=r"truncated or corrupt|not an ecgmon identity"):
            load_identity_file(path, "pw")


def test_newer_identity_version_and_edited_parameters(tmp_path: Path, patient: Identity) -> None:
    path = tmp_path / "id.key"
    write_identity_file(path, patient, "pw")
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "version": 2}))
    with pytest.raises(FormatVersionError, match="newer"):
        load_identity_file(path, "pw")
    # An edited field (here the label) is authenticated: the file no longer opens.
    path.write_text(json.dumps({**doc, "label": "mallory"}))
    with pytest.raises(PassphraseError):
        load_identity_file(path, "pw")
    path.write_text(json.dumps({**doc, "kdf": {**doc["kdf"], "log_n": 30}}))
    with pytest.raises(IdentityError, match="outside the accepted range"):
        load_identity_file(path, "pw")


def test_missing_identity_file(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="does not exist"):
        load_identity_file(tmp_path / "nope.key", "pw")


def test_recipient_label_is_kept() -> None:
    ident = Identity.generate("clinician", "Dr X")
    r = Recipient.parse(ident.recipient.text, "Dr X")
    assert r.label == "Dr X" and r.public_key == ident.public_bytes
