"""``make bench``: training images/s of each model, fast path (fp32 and bf16 side by side) vs a plain PyTorch loop,
in one process.

Fast path: the split held on the device as uint8, batched crop/flip/normalize
there (``BatchLoader``), channels_last as ``trainer.channels_last`` resolves it
(``--channels-last``; auto: CUDA and AVX-512 CPUs), timed at ``trainer.precision=fp32`` and at ``bf16``
(autocast), with ``fast_img_s`` the one ``precision=auto`` picks on this device; with ``--compile
MODE ...`` also the fast path under each ``torch.compile`` mode (its warm-up
epoch's time, ``warmup_s``, holds the compile time). Plain loop: torchvision
transforms per image in DataLoader workers (``PlainLoader``), fp32, contiguous
NCHW, as most CIFAR code is written. Both train through the same ``Trainer.train_step``,
at a constant learning rate, and are timed by the same ``jumpnet.train.throughput.ImageTimer``
that ``metrics.json``'s ``throughput`` comes from.

Per model: one warm-up epoch of ``--steps`` batches per path (worker start-up,
allocator, cuDNN/compile), then ``--repeats`` timed epochs per path,
alternating the paths so that load from other jobs hits them alike; the
median is reported. Data: seeded synthetic uint8 CIFAR-shaped images (what is
measured does not depend on pixel values), or the real training images when
``JUMPNET_DATA_ARCHIVE`` (or ``--archive``) names a CIFAR ImageFolder tar.

Modules: ``settings`` (``BenchSettings``: what one bench measures, built by the
command line and by ``gpucheck``), ``timing`` (one model's row), ``output`` (the
table and ``bench.json``), ``__main__`` (the command line).
"""
