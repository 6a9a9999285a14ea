import sys

from kbgen.cli import main

sys.exit(main())
