"""`python -m monitor` runs the ecgmon command line."""

import sys

from monitor.cli import main

sys.exit(main())
