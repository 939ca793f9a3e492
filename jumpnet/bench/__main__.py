"""``python -m jumpnet.bench``: see ``jumpnet.bench.runner``."""
from jumpnet.bench.runner import main
from jumpnet.errors import run_cli

run_cli(main)
