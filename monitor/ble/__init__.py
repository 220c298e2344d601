"""Bluetooth LE strap: PMD / Heart Rate codecs, bleak session, virtual strap."""
