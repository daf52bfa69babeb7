"""`python -m bot` is the same as the `pilote-ia` command."""

import sys

from bot.cli import main

sys.exit(main())
