"""The frozen program's entry point: ``dist/tiro/tiro`` runs this.

``multiprocessing.freeze_support()`` must run before anything parses the command
line: a frozen app starts its worker processes (spawn) by running this same
executable with ``--multiprocessing-fork`` arguments, which ``tiro``'s argument
parser would reject.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from app.cli import main

    sys.exit(main())
