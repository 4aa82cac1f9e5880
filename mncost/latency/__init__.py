"""Predicted latency: the model, device profiles, prediction, the held-out evaluation."""
