"""Metric learning: triplet losses, triplet selection (mining) and a small trainable Siamese encoder."""
