"""Orchestrations used by every front end (CLI, demo, dock): training sessions and the demo."""
