"""`python -m jogg_flow` runs the command line."""

from .cli import main

main()
