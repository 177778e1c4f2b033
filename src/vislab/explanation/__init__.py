"""Grad-CAM and friends, attention maps, faithfulness."""
