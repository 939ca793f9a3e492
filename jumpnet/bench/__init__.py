"""``make bench``: training throughput of each model, the fast path against a plain PyTorch loop."""
