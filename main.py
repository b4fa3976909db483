"""Start the desktop app: ``python main.py`` (same as ``detector-app``)."""

import sys

from detector_app.cli.main import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["gui"]))
