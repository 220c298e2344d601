"""TUI fixtures: reuse the daemon fixtures (synthetic recording, socket folder, daemon)."""

from tests.daemon.conftest import short_csv, sock_dir, start_daemon, synthetic_csv

__all__ = ["short_csv", "sock_dir", "start_daemon", "synthetic_csv"]
