"""``python -m shapesafe_nn`` runs the ``shapesafe-nn`` command."""

import sys

from .cli import main

sys.exit(main())
