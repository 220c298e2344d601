"""`ecgmon` subcommands, one module each; monitor.cli registers them."""
