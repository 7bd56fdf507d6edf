import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything():
    """Tests are deterministic: same seeds every run."""
    np.random.seed(0)
    torch.manual_seed(0)
    yield
