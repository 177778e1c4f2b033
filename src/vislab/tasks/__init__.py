"""One module per task: the Lightning module and its predict-to-table step."""
