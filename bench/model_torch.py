"""Time the same training step in PyTorch: forward, backward, AdamW (MAE's decay groups).

usage: model_torch.py CONFIG_FILE BATCH STEPS WARMUP
CONFIG_FILE holds key=value lines (bench/model_step --config SPEC). The model is the parity
reference (tests/ref/mae_ref.py), so both sides run the same maths. With bf16=1 in it, the
forward and the loss run under torch.autocast("cpu", dtype=torch.bfloat16) (PyTorch's own CPU
bf16: linears, convolutions and matmuls in bf16, LayerNorm and softmax in fp32; fp32 master
weights and AdamW), impl=torch-bf16. Prints one line:
  impl=torch batch=... img_s=... step_ms=... peak_rss_mb=... loss=... threads=... core=...
"""
import ctypes
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from mae_ref import Ref  # noqa: E402


def main():
    cfg = dict(l.strip().split("=", 1) for l in open(sys.argv[1]) if "=" in l)
    B, steps, warm = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.manual_seed(0)
    model = Ref(cfg)
    # timm add_weight_decay: no decay for 1-d tensors and biases
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or n.endswith(".bias") else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": no_decay, "weight_decay": 0.0}], lr=1.5e-4 * B / 256, betas=(0.9, 0.95))
    N, P = model.N, model.P
    patches = torch.randn(B, N, P)
    keep = N - int(N * float(cfg["mask_ratio"]))
    noise = torch.rand(B, N)
    mask = torch.ones(B, N, dtype=torch.uint8)
    mask.scatter_(1, torch.argsort(noise, dim=1)[:, :keep], 0)
    K, M = int(cfg["window"]), int(cfg["nwindows"])
    windows = torch.randint(0, model.gh - K + 1, (B, M, 2))

    bf16 = cfg.get("bf16", "0") == "1"

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            _, loss = model(patches, mask, windows=windows)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warm):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    dt = (time.perf_counter() - t0) / steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("impl=torch%s batch=%d img_s=%.2f step_ms=%.1f peak_rss_mb=%.0f loss=%.4f threads=%d core=%s"
          % ("-bf16" if bf16 else "", B, B / dt, dt * 1e3, rss, loss, torch.get_num_threads(), blas_core()))


def blas_core():
    """The OpenBLAS core of the library torch has loaded (dlopen of a loaded soname returns it)."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "unknown"


if __name__ == "__main__":
    if sys.argv[1:] == ["--core"]:
        print(blas_core())
    else:
        main()
