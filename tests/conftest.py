import os
import torch

# Two xdist workers on a 2-core machine: one torch thread each, or they fight over the cores.
if os.environ.get('PYTEST_XDIST_WORKER'): torch.set_num_threads(1)
