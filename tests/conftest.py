"""Shared test settings: few threads (2-core CI), deterministic torch."""

import torch

torch.set_num_threads(1)
