import sys

from gcrl.cli import main

sys.exit(main())
