"""Plain helpers shared by the tests (pytest fixtures stay in conftest.py).

paths: the checkout's folders; shared: the ../shared fixtures and `need_shared`; jobkit: tiny
training jobs; netcheck: whole-network gradient checks.
"""
