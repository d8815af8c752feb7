#!/usr/bin/python3
"""torchvision's side of bench/folder-throughput.mjs: ImageFolder + DataLoader with the same transforms
psvit's folder stream applies, one pass, images/s.

  torch_folder.py DIR --size 224 --batch 64 --workers 2 [--eval] [--limit N]
prints {"images": n, "seconds": s, "images_per_sec": r, "workers": w}
"""
import argparse
import json
import time

import torch
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--eval", action="store_true")
    p.add_argument("--limit", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(1)
    norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    if a.eval:
        t = transforms.Compose([transforms.Resize(int(a.size / 0.875)), transforms.CenterCrop(a.size),
                                transforms.ToTensor(), norm])
    else:
        t = transforms.Compose([transforms.RandomResizedCrop(a.size), transforms.RandomHorizontalFlip(),
                                transforms.ToTensor(), norm])
    ds = datasets.ImageFolder(a.dir, transform=t)
    if a.limit:
        ds = Subset(ds, range(min(a.limit, len(ds))))
    loader = DataLoader(ds, batch_size=a.batch, shuffle=not a.eval, num_workers=a.workers,
                        persistent_workers=False)
    t0 = time.perf_counter()
    n = 0
    for x, y in loader:
        n += x.shape[0]
    s = time.perf_counter() - t0
    print(json.dumps({"images": n, "seconds": s, "images_per_sec": n / s, "workers": a.workers}))


if __name__ == "__main__":
    main()
