"""The task-parallel engine: a priority scheduler and the task graphs of network passes."""
