"""``python -m tests.harness.genesys_emulator``: run the emulator until SIGINT/SIGTERM."""

import sys

from .cli import main

sys.exit(main())
