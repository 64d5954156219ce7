"""``python -m mltrack`` runs the command line."""

from mltrack.cli import main

raise SystemExit(main())
