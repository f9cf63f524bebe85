import sys

from bandmate.cli import main

sys.exit(main())
