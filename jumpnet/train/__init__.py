"""Training: the loop (``loop.Trainer``), its optimizer and schedule, compile modes, memory format,
checkpoints, the stall watchdog, the initialization lottery and the one throughput timer."""
