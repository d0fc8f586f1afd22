"""The runnable network (forward, backward, update) built from a `.znn` description."""

from znn.network.net import Network

__all__ = ["Network"]
