import sys

from stratos.cli import main

sys.exit(main())
