"""Bech32 text encoding (BIP 173) for public keys, so a mistyped key is caught.

The checksum is a BCH code over the characters: it detects any error affecting up
to four characters, which covers the typos a person makes when copying a key by
hand. Written from the BIP 173 specification; this is an encoding, not
cryptography. Keys are longer than BIP 173's 90-character limit allows for
addresses only in theory (a 32-byte key is 59 characters with our prefix).
"""

from __future__ import annotations

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CONST = 1  # BIP 173 (bech32); bech32m would use 0x2BC830A3


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GENERATOR[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out: list[int] = []
    maxv = (1 << to_bits) - 1
    for value in data:
        if value < 0 or value >> from_bits:
            raise ValueError("invalid data value")
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & maxv)
    elif bits >= from_bits or ((acc << (to_bits - bits)) & maxv):
        raise ValueError("invalid padding")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Bech32 string of `data` with human-readable prefix `hrp` (lower case)."""
    values = _convert_bits(data, 8, 5, pad=True)
    polymod = _polymod([*_hrp_expand(hrp), *values, 0, 0, 0, 0, 0, 0]) ^ _CONST
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[v] for v in values + checksum)


def decode(text: str) -> tuple[str, bytes]:
    """(hrp, data) of a bech32 string; ValueError with the reason when it is invalid."""
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise ValueError("contains a character that is not printable ASCII")
    if text.lower() != text and text.upper() != text:
        raise ValueError("mixes upper and lower case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1 or sep + 7 > len(text):
        raise ValueError("has no separator or is too short")
    hrp, rest = text[:sep], text[sep + 1 :]
    bad = [c for c in rest if c not in CHARSET]
    if bad:
        raise ValueError(f"contains {bad[0]!r}, which bech32 does not use")
    values = [CHARSET.find(c) for c in rest]
    if _polymod([*_hrp_expand(hrp), *values]) != _CONST:
        raise ValueError("checksum does not match (a character is wrong or missing)")
    return hrp, bytes(_convert_bits(values[:-6], 5, 8, pad=False))
