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


def threads() -> str:
    """The thread settings numpy's BLAS (OpenBLAS) and PyTorch read at import.

    Unset, each uses every core.  On a machine shared with other work,
    OMP_NUM_THREADS=1 keeps a small matrix product from waiting for a
    thread that another process holds (both libraries read it)."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    given = [f"{name}={os.environ[name]}" for name in names if name in os.environ]
    return ", ".join(given) if given else "OMP_NUM_THREADS and OPENBLAS_NUM_THREADS unset"


def describe() -> str:
    """Three lines: the CPU, its cores and vector units; the thread settings;
    the load average now."""
    flags = cpu_flags()
    units = ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in FLAGS)
    return (f"CPU: {cpu_model()}, {os.cpu_count()} cores ({units})\n"
            f"threads: {threads()}\n{load_now()}")


def load_now() -> str:
    """The load average, one line: print it after the measurements as well."""
    one, five, fifteen = os.getloadavg()
    return f"load average (uptime): {one:.2f}, {five:.2f}, {fifteen:.2f} over 1, 5, 15 minutes"
