"""Bluetooth LE strap: PMD / Heart Rate codecs, bleak session, virtual strap.

Modules, each with one job:

* `pmd`, `hrs`, `battery`: pure codecs for Polar Measurement Data (raw ECG), the
  Heart Rate Service and the Battery Service; malformed bytes raise only
  `errors.BleDecodeError`. Byte layouts and sources: docs/PROTOCOL.md.
* `timing`: strap clock -> host clock (with drift) and frame ordering (gaps,
  duplicates, reordering), pure and synchronous.
* `session`: `StrapSession`, the asyncio connection on bleak's public API with
  reconnects and a watchdog; yields `monitor.frame.EcgFrame` and `events`.
* `virtual`: `VirtualStrap`, a Polar H10 as a bleak backend (replays, demo, tests);
  `synthetic`: its default signal; `simtime`: a virtual-time event loop.
* `capture`: the JSON-lines capture format of `ecgmon record`.
"""
