"""The kernel report: a throughput table's "differ" column and run.json say which kernels ran."""

import platform

import pytest
import torch

from vleval.models.kernels import describe_kernels, kernel_report

x86 = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="oneDNN ISA caps are x86")


@x86
def test_the_isa_cap_in_the_environment_reaches_the_probed_kernel(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # no bf16 in oneDNN there: PyTorch's own GEMM
    capped = kernel_report("cpu")
    assert capped["onednn_max_cpu_isa"] == "AVX2"
    assert not any(isa in capped["bf16_matmul"].lower() for isa in ("amx", "avx512"))
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in describe_kernels(capped)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")  # what .ci/run's second numerics pass sets
    assert "amx" not in kernel_report("cpu")["bf16_matmul"].lower()


def test_the_default_report_names_the_cpu_capability_and_the_bf16_matmul(monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    report = kernel_report("cpu")
    assert report["onednn_max_cpu_isa"] == "default"
    assert report["torch_cpu_capability"] and report["bf16_matmul"]
    assert not report["bf16_matmul"].startswith("unknown"), report  # the probe ran
    line = describe_kernels(report)
    assert report["bf16_matmul"] in line and report["torch_cpu_capability"] in line
    assert "bf16_matmul" not in kernel_report("cpu", probe=False)  # the cheap form run.json records


@pytest.mark.numerics
def test_the_ci_shape_kernel_makes_bf16_products_depend_on_their_shape(shape_dependent_bf16_kernel):
    """.ci/run's numerics pass swaps in a bf16 kernel that rounds by shape (tests/conftest.py), as AMX
    kernels do; if it stopped reaching the model's layers, that pass would prove nothing."""
    if not shape_dependent_bf16_kernel:
        pytest.skip("VLEVAL_TEST_SHAPE_KERNEL=1 is not set (.ci/run's numerics pass sets it)")
    torch.manual_seed(0)
    layer = torch.nn.Linear(256, 64, bias=False).to(torch.bfloat16)
    x = torch.randn(3, 256).to(torch.bfloat16)
    with torch.no_grad():
        alone = layer(x[:1])
        assert torch.equal(alone, layer(x[:1].clone()))  # same shape, same bits
        assert not torch.equal(alone, layer(x)[:1])  # the row in a batch of 3: another rounding
        assert torch.equal(x[:1] @ layer.weight.T, alone)  # `x @ W.T` is the same product
