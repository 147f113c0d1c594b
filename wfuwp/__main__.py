"""`python -m wfuwp`: the `wfuwp` command."""

from wfuwp.cli import main

raise SystemExit(main())
