"""`python -m znn ...`: the `znn` command."""

import sys

from znn.commands.cli import main

sys.exit(main(sys.argv[1:]))
