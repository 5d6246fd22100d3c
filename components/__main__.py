"""`python -m components render STACK --out DIR`: see components/render.py."""

import sys

from .render import main

if __name__ == "__main__":
    sys.exit(main())
