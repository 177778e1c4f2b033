"""EVALUATION LAYER: metrics per task, bootstrap intervals, groups and disparities."""
