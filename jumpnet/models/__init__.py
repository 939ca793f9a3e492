"""Models: the shared layers, the ``Network`` contract every family follows, JumpNet, and what a model costs.

``factory`` is the one place a config becomes a module (``matching`` solves a matched arm's width first);
``cost`` counts parameters and FLOPs. The baseline families live in ``baselines/`` and import from here.
"""
