"""Suite-wide settings."""

import torch

# Two cores, per-sample updates of a tiny network: extra torch threads only add contention
# (measured 30-70x slower reference replays under load with two threads).
torch.set_num_threads(1)
