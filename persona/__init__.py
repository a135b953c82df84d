"""persona-kg: persona-driven, knowledge-graph-backed session recommendation."""

__version__ = "0.1.0"
