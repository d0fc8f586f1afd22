"""What a pass over a network shares between engines: the frozen pass state, gradients and update rules."""
