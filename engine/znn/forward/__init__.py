"""Forward passes over whole volumes: tiling, stitching and the `znn forward` job (reference §8)."""
