"""``python -m ag ...`` runs the ``ag`` command (the same as the ``ag`` script)."""

import sys

from ag.cli import main

if __name__ == "__main__":
    sys.exit(main())
