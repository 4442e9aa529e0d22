"""``python -m gpt ...`` runs the ``gpt`` command."""

import sys

from .cli import main

sys.exit(main())
