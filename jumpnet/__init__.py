"""jumpnet-ablation: JumpNet and its ablation study (models, data, training, measurement, reports).

Importing the package sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already names a policy,
before torch loads OpenMP: with the default (active) policy, OpenMP threads spin at every barrier,
and when other processes share the cores a spinning thread burns the time slice its partner needs.
Measured here with two threads per process on a loaded 2-core machine: tiny ResNet steps ran more
than 15x slower than with the passive policy, and JumpNet-CIFAR 2.7x slower (README, CPU safety).
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
