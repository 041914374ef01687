"""``python -m nbpipe.cli``."""

from nbpipe.cli import main

main()
