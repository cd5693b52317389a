"""``python -m semlab`` runs the command-line interface."""

import sys

from semlab.cli import main

sys.exit(main())
