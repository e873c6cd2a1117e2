"""`python -m cli ...` is `atelier ...`."""

import sys

from cli.main import main

sys.exit(main())
