"""Allow ``python -m ngshare``."""

from ngshare.server.app import main

main()
