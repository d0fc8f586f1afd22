"""Network parameters: the tables of kernels and biases, and how a fresh network draws them."""
