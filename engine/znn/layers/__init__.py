"""Layer kinds: one module per `.znn` group type, each owning what that type means.

`znn.layers.table` maps type names to kinds; `znn.layers.base` says what a kind provides.
"""
