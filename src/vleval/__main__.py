import sys

from vleval.cli import main

sys.exit(main())
