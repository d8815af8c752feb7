#!/usr/bin/python3
"""PyTorch reference for `psvit bench`: the same architecture (bench/torch_model.py's HVT, SPEC section 1
layer maths) on the same kind of data (random normal images, random labels, cross-entropy), same step
(forward, backward, AdamW), medians of timed repetitions after warm-up.

Usage: torch_ref.py CONFIG.json [--batch 64] [--steps 10] [--warmup 2] [--threads 1] [--device cpu] [--json]
                    [--serve]

--device cuda (bench/gpu-check.sh): model and data on the GPU, each timed step ends with
torch.cuda.synchronize(), so the time is the GPU's and not the launch's.

Threads: --threads N sets OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS before torch is
imported and torch.set_num_threads(N) (set_num_threads alone leaves OpenBLAS's own pool at every core).
With --json the last line of stdout is {"train_img_s", "fwd_img_s", "peak_rss_mb", "threads", "torch"}.
--serve (for bench/interleave.mjs): after the warm-up prints "ready", then answers one line per stdin
command: "train" / "fwd" runs one step and prints its milliseconds; "quit" prints {"peak_rss_mb", "torch"}.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)

    import torch
    import torch.nn.functional as F

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_model import HVT

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open(a.config) as f:
        cfg = json.load(f)
    dev = torch.device(a.device)
    model = HVT(cfg).to(dev)
    size, ch = cfg["image"]["size"], cfg["image"]["channels"]
    x = torch.randn(a.batch, ch, size, size).to(dev)
    y = torch.randint(0, cfg["numClasses"], (a.batch,)).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        (no_decay if p.ndim < 2 or leaf in ("pos_embed", "cls_token") else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-4
    )

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    def fwd():
        with torch.no_grad():
            return model(x).sum().item()

    def timed(f):
        for _ in range(a.warmup):
            f()
        ts = []
        for _ in range(a.steps):
            sync()
            t0 = time.perf_counter()
            f()
            sync()
            ts.append((time.perf_counter() - t0) * 1000)
        return statistics.median(ts)

    if a.serve:
        return serve(model, train_step, fwd, a.warmup, torch.__version__)
    model.train()
    train_ms = timed(train_step)
    model.eval()
    fwd_ms = timed(fwd)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res = {
        "train_img_s": round(a.batch * 1000 / train_ms, 1),
        "fwd_img_s": round(a.batch * 1000 / fwd_ms, 1),
        "peak_rss_mb": round(peak),
        "threads": a.threads,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__,
    }
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{cfg.get('name', a.config)}: batch {a.batch}, torch {torch.__version__}, {a.threads} thread(s)")
        print(f"train {train_ms:.1f} ms/step {res['train_img_s']} img/s; forward {fwd_ms:.1f} ms {res['fwd_img_s']} img/s")
        print(f"peak RSS {res['peak_rss_mb']} MB")
    return 0


def serve(model, train_step, fwd, warmup, version):
    """One step per stdin line, its milliseconds on stdout (see the module docstring)."""
    steps = {"train": (True, train_step), "fwd": (False, fwd)}
    for training, f in steps.values():
        model.train(training)
        for _ in range(warmup):
            f()
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(json.dumps({"peak_rss_mb": round(peak), "torch": version}), flush=True)
            return 0
        if cmd not in steps:
            print(f"error unknown command {cmd!r}", flush=True)
            continue
        training, f = steps[cmd]
        model.train(training)
        t0 = time.perf_counter()
        f()
        print(f"{(time.perf_counter() - t0) * 1000:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
