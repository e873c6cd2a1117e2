"""PyTorch builders of every network, from named profile configs: what export and training both build."""
