"""Which kernels compute the model here: bf16 results depend on them (docs/numerics.md).

Two computations are bit-identical only when the same kernels see the same shapes. On x86 CPUs
PyTorch runs bf16 matrix products through oneDNN, which picks an implementation by the CPU's ISA
(AMX tiles, AVX-512 with bf16 instructions, plain AVX-512; none on AVX2, where PyTorch uses its own
GEMM) capped by ``ONEDNN_MAX_CPU_ISA``, and by the shapes it is given; element-wise ops and
reductions use PyTorch's own vectorised code for its CPU capability. On GPUs the device and CUDA
version decide. ``kernel_report`` names all of these so a throughput table or a run record can say
which kernels produced its predictions.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import torch

ISA_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")  # oneDNN reads either (the first wins)

# Run in a fresh interpreter with ONEDNN_VERBOSE=1: oneDNN prints its ISA and, for each primitive it
# executes, the implementation's name. One small bf16 product, as the model's linear layers run.
_PROBE = (
    "import torch\n"
    "a = torch.ones(8, 64, dtype=torch.bfloat16); w = torch.ones(32, 64, dtype=torch.bfloat16)\n"
    "torch.nn.functional.linear(a, w)\n"
)


def _onednn_version() -> str:
    found = re.search(r"MKL-DNN v([0-9.]+)", torch.__config__.show())
    return found.group(1) if found else "unknown"


def onednn_isa_cap() -> str:
    """The ISA cap set in the environment, or 'default' (the CPU's best)."""
    return next((os.environ[name] for name in ISA_ENV if os.environ.get(name)), "default")


def probe_bf16_matmul(timeout_s: float = 60.0) -> dict[str, str]:
    """What oneDNN reports for one bf16 matmul in a child process with this environment:
    ``onednn_isa`` (its ISA line) and ``bf16_matmul`` (the implementation, e.g.
    ``oneDNN brg_matmul:avx512_core_amx``, or PyTorch's own GEMM when oneDNN does not take bf16)."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "DNNL_VERBOSE": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return {"onednn_isa": "unknown", "bf16_matmul": f"unknown (probe failed: {type(exc).__name__})"}
    isa, impl = "not used", "PyTorch's own bf16 GEMM (oneDNN does not run bf16 on this ISA)"
    for line in proc.stdout.splitlines():
        fields = line.split(",")
        if ",info,cpu,isa:" in line:
            isa = line.split("isa:", 1)[1].strip()
        elif len(fields) > 6 and fields[2] == "primitive" and fields[3] == "exec" and fields[5] == "matmul":
            impl = f"oneDNN {fields[6]}"
    if proc.returncode != 0:
        impl = f"unknown (probe exited {proc.returncode})"
    return {"onednn_isa": isa, "bf16_matmul": impl}


def kernel_report(device: str = "cpu", probe: bool = True) -> dict[str, str]:
    """The kernels that compute on ``device``. CPU: PyTorch's CPU capability, the oneDNN ISA cap and
    (``probe``: a child process, about a second) the ISA and implementation oneDNN actually runs for
    bf16. CUDA: the GPU, CUDA and cuDNN versions."""
    if str(device).startswith("cuda"):
        return {
            "gpu": torch.cuda.get_device_name(torch.device(device)),
            "cuda": str(torch.version.cuda),
            "cudnn": str(torch.backends.cudnn.version()),
        }
    report = {
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_cpu_isa": onednn_isa_cap(),
        "onednn_version": _onednn_version(),
    }
    if probe:
        report.update(probe_bf16_matmul())
    return report


def describe_kernels(report: dict[str, str]) -> str:
    """One line for tables: 'bf16 matmul oneDNN brg_matmul:avx512_core_bf16; torch AVX512; cap default'."""
    if "gpu" in report:
        return f"{report['gpu']}, CUDA {report['cuda']}, cuDNN {report['cudnn']}"
    parts = [f"bf16 matmul: {report['bf16_matmul']}"] if "bf16_matmul" in report else []
    parts.append(f"torch CPU capability {report['torch_cpu_capability']}")
    parts.append(f"ONEDNN_MAX_CPU_ISA={report['onednn_max_cpu_isa']}")
    return "; ".join(parts)
