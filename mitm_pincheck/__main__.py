import sys

from mitm_pincheck.cli import main

sys.exit(main())
