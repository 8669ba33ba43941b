import os
import shutil

import pytest
import torch

# tsdiff's CPU kernels (tsdiff/models/cpu_kernels.py) build wherever a C++ compiler is found and they are not off
CAN_BUILD_CPU_KERNELS = shutil.which("c++") is not None and os.environ.get("TSDIFF_CPU_KERNELS", "1") != "0"
needs_cpu_kernels = pytest.mark.skipif(not CAN_BUILD_CPU_KERNELS, reason="needs a C++ compiler")

# keep the suite within two CPU cores and reproducible (OMP_NUM_THREADS, when set, wins: e.g. beside a benchmark)
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", min(2, os.cpu_count() or 1))))


@pytest.fixture
def gaussian8():
    """A non-isotropic 8-D Gaussian (eigenvalues from about 0.1 to 3.9) and a 500-step linear schedule."""
    from tsdiff.core import get_schedule

    g = torch.Generator().manual_seed(0)
    a = torch.randn(8, 8, generator=g, dtype=torch.float64)
    cov = a @ a.T / 8 + 0.1 * torch.eye(8, dtype=torch.float64)
    mean = torch.randn(8, generator=g, dtype=torch.float64)
    return mean, cov, get_schedule("linear", 500, beta_end=0.04)


def whitened_noise(n, d, seed=0):
    """Standard-normal noise whose sample mean is exactly 0 and sample covariance exactly I: the Monte-Carlo
    error of the initial noise drops out of moment checks of deterministic maps."""
    z = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = z - z.mean(0)
    chol = torch.linalg.cholesky(torch.cov(z.T))
    return torch.linalg.solve_triangular(chol, z.T, upper=False).T
