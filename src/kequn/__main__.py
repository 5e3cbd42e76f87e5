"""``python -m kequn`` runs the CLI."""

import sys

from kequn.cli.main import main

sys.exit(main())
