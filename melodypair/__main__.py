"""`python -m melodypair` runs the CLI."""

from melodypair.cli import main

raise SystemExit(main())
