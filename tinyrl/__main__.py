"""``python -m tinyrl`` runs the same command line as ``tinyrl``."""

from tinyrl.cli import main

main()
