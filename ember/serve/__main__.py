"""``python -m ember.serve MODEL [--name NAME] [--port 8501] ...``"""

import sys

from .server import main

sys.exit(main(prog="python -m ember.serve"))
