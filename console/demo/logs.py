"""What the demo fleet's containers log: what `docker logs` shows, and what arrives while following."""

from __future__ import annotations

COMFYUI_LOG = (
    "** ComfyUI startup time: 2026-11-19 07:41:02.118",
    "** Platform: Linux",
    "** Python version: 3.11.10 (main, Oct  3 2026, 07:29:13) [GCC 11.2.0]",
    "Total VRAM 81559 MB, total RAM 2015606 MB",
    "pytorch version: 2.5.1+cu124",
    "Set vram state to: NORMAL_VRAM",
    "Device: cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync",
    "Using pytorch attention",
    "Import times for custom nodes:",
    "   0.0 seconds: /opt/ComfyUI/custom_nodes/websocket_image_save.py",
    "Starting server",
    "To see the GUI go to: http://0.0.0.0:8188",
    "got prompt",
    "model weight dtype torch.bfloat16, manual cast: None",
    "model_type FLUX",
    "Requested to load Flux",
    "loaded completely 77873.1 22700.1 True",
    "100%|██████████| 28/28 [00:12<00:00,  2.21it/s]",
    "Prompt executed in 14.88 seconds",
    "got prompt",
    "100%|██████████| 28/28 [00:12<00:00,  2.23it/s]",
    "Prompt executed in 12.74 seconds",
)
COMFYUI_FOLLOW = (
    "got prompt",
    "100%|██████████| 28/28 [00:12<00:00,  2.22it/s]",
    "Prompt executed in 12.81 seconds",
)
OPEN_WEBUI_LOG = (
    "INFO:     Started server process [1]",
    "INFO:     Waiting for application startup.",
    "ERROR [open_webui.main] Ollama API: cannot connect to http://host.docker.internal:11434",
    'INFO:     127.0.0.1:51234 - "GET /health HTTP/1.1" 502 Bad Gateway',
    "ERROR [open_webui.main] Ollama API: cannot connect to http://host.docker.internal:11434",
    'INFO:     127.0.0.1:51240 - "GET /health HTTP/1.1" 502 Bad Gateway',
)
OLLAMA_LINE = 'time=2026-11-19T07:40:58Z level=INFO source=routes.go:1259 msg="Listening on [::]:11434"'
TRAINER_LOG = (
    "[rank0]: torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:2012",
    "[rank0]: unhandled cuda error, NCCL version 2.21.5",
    "[rank0]: ncclUnhandledCudaError: Call to CUDA function failed.",
    "[rank0]: Last error: Cuda failure 'invalid device ordinal'",
)


def recorded_logs() -> tuple[dict[tuple[str, str], tuple[str, ...]], dict[tuple[str, str], tuple[str, ...]]]:
    """(logs, follow): each container's recorded output, and the lines that arrive while following."""
    logs = {
        ("gpu1", "comfyui"): COMFYUI_LOG,
        ("gpu1", "open-webui"): OPEN_WEBUI_LOG,
        ("gpu1", "ollama"): (OLLAMA_LINE,),
        ("rack-a2", "trainer"): TRAINER_LOG,
    }  # fmt: skip
    return logs, {("gpu1", "comfyui"): COMFYUI_FOLLOW}
