"""``make gpu-check`` (``python -m jumpnet.gpucheck``): every GPU figure the project reports, in one command.

One prepared command for a short GPU lease (at most 8 minutes on one H100/H200):
per-model training speed (fast path and plain loop, TFLOP/s, peak memory),
JumpNet under each ``trainer.compile`` mode with its compile time, the aggregate
speed of 1, 2, 4 and 8 concurrent JumpNet trainings (separate processes), one
real short JumpNet training on all of CIFAR-10 with its test accuracy, and
``make plan``'s estimates for the study from these figures. Each section runs in
its own process under a time cap and the total budget (``--budget-s``): one that
fails or overruns is recorded and the rest still run. ``--tiny`` runs the same
code on a CPU with tiny models in under a minute (the test suite does).

Modules: ``profiles`` (what each mode measures and its time caps), ``runner``
(sections in child processes, the budget), ``sections`` (the measurements),
``concurrency`` (several trainings at once), ``readme`` (the report).
"""
