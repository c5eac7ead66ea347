"""Allow ``python -m ngshare``."""

from ngshare.app import main

main()
