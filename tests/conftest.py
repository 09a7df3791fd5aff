"""Fixtures shared across the test packages."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")  # Debian's, installed by .ci/services.d/chromium.sh
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (never `playwright install`); skipped where absent."""
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian chromium not installed at /usr/bin/chromium (install: bash .ci/services.d/chromium.sh)"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed (pip install '.[test]')"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


# --------------------------------------------------------------------------------------------------
# A bf16 kernel that picks its algorithm by shape, on any CPU (VLEVAL_TEST_SHAPE_KERNEL=1; .ci/run's
# numerics pass). Real kernels do this (oneDNN on AMX CPUs, cuBLAS), so a test that expects equal bf16
# outputs from computations of different shapes passes on some machines and fails on others; with this
# kernel it fails everywhere. Products with a 2-D right operand (every linear layer, ``x @ W.T``) are
# summed over 1 to 3 slices of K, rounded to bf16 each, the number chosen by the rows and the output
# width: the same shapes give the same bits, other shapes other roundings.
# --------------------------------------------------------------------------------------------------
SHAPE_KERNEL_ENV = "VLEVAL_TEST_SHAPE_KERNEL"


def _shape_dependent_linear(real_linear):
    import torch

    def linear(x, weight, bias=None):
        if x.dtype != torch.bfloat16 or weight.dim() != 2 or x.shape[-1] < 3:
            return real_linear(x, weight, bias)
        rows = x.numel() // x.shape[-1]
        slices = 1 + (rows + weight.shape[0]) % 3
        if slices == 1:
            return real_linear(x, weight, bias)
        bounds = [x.shape[-1] * i // slices for i in range(slices + 1)]
        parts = [real_linear(x[..., a:b], weight[:, a:b]).float() for a, b in pairwise(bounds)]
        out = sum(parts).to(x.dtype)
        return out if bias is None else out + bias

    return linear


@pytest.fixture(scope="session", autouse=True)
def shape_dependent_bf16_kernel():
    if os.environ.get(SHAPE_KERNEL_ENV) != "1":
        yield False
        return
    import torch
    import torch.nn.functional as F

    real_linear, real_matmul = F.linear, torch.Tensor.__matmul__
    linear = _shape_dependent_linear(real_linear)

    def matmul(self, other):
        if isinstance(other, torch.Tensor) and other.dim() == 2 and self.dtype == torch.bfloat16:
            return linear(self, other.T)
        return real_matmul(self, other)

    F.linear, torch.Tensor.__matmul__ = linear, matmul
    yield True
    F.linear, torch.Tensor.__matmul__ = real_linear, real_matmul
