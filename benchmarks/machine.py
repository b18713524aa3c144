"""What a benchmark ran on: the CPU's model and vector units, and how busy it was.

Machines of one kind come with different CPUs here, and numpy's float32
kernels (OpenBLAS picks one per CPU: AVX2, AVX-512, ...) and PyTorch's
(oneDNN can use AMX) differ between them, so every printed ratio says which
CPU it was measured on.  The load average says whether other work shared the
cores: a ratio measured with the variants taking turns survives a load, an
absolute time does not.
"""

import os
import platform
import subprocess

FLAGS = ("avx2", "avx512f", "amx_tile")  # amx_tile: Intel's matrix unit (AMX), if present


def cpu_model() -> str:
    """``lscpu``'s model name, e.g. "Intel(R) Xeon(R) Processor"."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    for line in lines.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def cpu_flags() -> set[str]:
    """The CPU's feature flags, as /proc/cpuinfo (and ``lscpu``'s Flags line) lists them."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def describe() -> str:
    """Two lines: the CPU, its cores and vector units; the load average now."""
    flags = cpu_flags()
    units = ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in FLAGS)
    return f"CPU: {cpu_model()}, {os.cpu_count()} cores ({units})\n{load_now()}"


def load_now() -> str:
    """The load average, one line: print it after the measurements as well."""
    one, five, fifteen = os.getloadavg()
    return f"load average (uptime): {one:.2f}, {five:.2f}, {fifteen:.2f} over 1, 5, 15 minutes"
