"""Encrypted local log: keys, recipients, records, export."""
