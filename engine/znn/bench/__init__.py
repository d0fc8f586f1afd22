"""`znn bench`: timing our engine against a PyTorch CPU peer on ZNN's benchmark networks.

`cases` says what is measured, `worker` measures one configuration in its own process,
`runner` runs them all, `report` writes the table, `torch_peer` builds the PyTorch twin.
"""
