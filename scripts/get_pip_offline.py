"""Stand-in for the get-pip bootstrap script that ansible-test downloads from the internet, which this project's
machines cannot reach. ansible-test runs it inside a fresh venv with `pip install` arguments: install the pip bundled
with Python (ensurepip), then let that pip install what was asked for from the configured package index."""

import subprocess
import sys

# In a child process: ensurepip clears the pip configuration (index URLs) of the process it runs in.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
# --no-setuptools and --no-wheel are get-pip's own options: a venv from ensurepip has neither package anyway.
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
