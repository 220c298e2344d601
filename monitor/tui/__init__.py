"""Textual terminal UI: live, history and review screens."""
