"""Runnable examples for learners: ``python -m gpt.examples.NAME``."""
