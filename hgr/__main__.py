"""`python -m hgr ...` is the same as the `hgr` console command."""
import sys

from hgr.cli import main

sys.exit(main())
