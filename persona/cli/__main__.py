"""``python -m persona.cli``."""

from . import app

app()
