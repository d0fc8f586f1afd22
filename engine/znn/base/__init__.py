"""The ground floor: errors, modes, small value types, cores, JIT and signal settings, atomic text files.

Imports nothing else of znn."""
