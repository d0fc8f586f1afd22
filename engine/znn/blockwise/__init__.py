"""Blockwise forward passes over volumes larger than memory, on a dask.distributed cluster.

A block is a write ROI of the output (one zarr chunk), the read ROI of the input around it
(the write ROI plus a halo of fov − 1) and a done flag in the output store. Blocks are
independent tasks, so a run can be interrupted and resumed, and a lost worker only costs
the blocks it held.
"""
