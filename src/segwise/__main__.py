import sys

from segwise.cli import main

sys.exit(main())
