"""Write tests/vectors/store_v<N>.json: known-answer bytes of the current log format.

Run only when the format version changes (older versions' files stay, to prove their
logs remain readable); the tests compare the writer's output with these bytes and
decode them with the fixed identity.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.store.crypto import FORMAT_VERSION  # noqa: E402
from tests.store.vector_inputs import (  # noqa: E402
    EPHEMERAL_PRIVATE,
    FILE_KEY,
    RECIPIENT_PRIVATE,
    SEGMENT_ID,
    identity,
    write_vector_log,
)


def main() -> None:
    out = {
        "format_version": FORMAT_VERSION,
        "recipient_private": RECIPIENT_PRIVATE.hex(),
        "recipient_public": identity().recipient.text,
        "file_key": FILE_KEY.hex(),
        "segment_id": SEGMENT_ID.hex(),
        "ephemeral_private": EPHEMERAL_PRIVATE.hex(),
    }
    for name, compress in (("uncompressed", False), ("zlib", True)):
        with tempfile.TemporaryDirectory() as tmp:
            header, stanza, *records = write_vector_log(Path(tmp) / "log.sqlite", compress)
        out[name] = {
            "header": header.hex(),
            "stanza": stanza.hex(),
            "records": [r.hex() for r in records],
        }
    path = ROOT / "tests" / "vectors" / f"store_v{FORMAT_VERSION}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
