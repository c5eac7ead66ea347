"""Allow ``python -m ngshare.cli`` (the same as ``ngsharectl``)."""

import sys

from ngshare.cli.main import main

sys.exit(main())
