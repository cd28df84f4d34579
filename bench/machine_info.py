"""The machine line every benchmark table carries."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def describe_machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU used"
    return (
        f"{cpu}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}, {gpu}"
    )


def write_device_section(
    output: Path, device: str, body: str, command: str, *, title: str, doc: str, run_note: str = ""
) -> None:
    """Write this device's section (``<!-- cpu -->`` ... ``<!-- /cpu -->``) of a results file and keep the other
    device's, so that CPU and GPU figures can come from different machines; each names its machine and command."""
    import re
    from datetime import UTC, datetime

    heading = {"cpu": "CPU", "cuda": "GPU"}[device]
    section = (
        f"<!-- {device} -->\n## {heading}\n\nMachine: {describe_machine()}  \nCommand: `{command}`  \n"
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC{run_note}\n\n{body}\n<!-- /{device} -->"
    )
    text = output.read_text() if output.exists() else f"# {title}\n\n{doc}\n"
    pattern = re.compile(rf"<!-- {device} -->.*?<!-- /{device} -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
