"""Estimates about a collection from the model's labels and a coded random sample.

The model codes every image; people code a random sample with known inclusion probabilities;
the corrected estimate (the pseudo-outcome estimator of design-based supervised learning, which
is prediction-powered inference on a simple random sample) adds the sample's weighted
correction of the model's errors to the model's count, so it stays unbiased whatever the model
gets wrong, and for whom.
"""
