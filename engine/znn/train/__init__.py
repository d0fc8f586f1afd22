"""Training-side helpers: cost functions, MALIS weights and segmentation error measures."""
