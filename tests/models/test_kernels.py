"""The kernel report: a throughput table's "differ" column and run.json say which kernels ran."""

import platform

import pytest

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
