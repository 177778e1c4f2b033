"""`python -m vislab.cli ...` (Lightning's DDP launcher starts the other processes this way)."""

from vislab.cli import main

main()
