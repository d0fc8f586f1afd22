"""Planning from a description alone: costs of forward passes and updates, memory fits, the planner."""
