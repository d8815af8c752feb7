#!/usr/bin/python3
"""The PyTorch reference the tests and benchmarks call: python/psvit_torch.py's HVT (a faithful PyTorch
implementation of a psvit.model config, SPEC section 1, whose state_dict has exactly the SPEC section 4
names) behind a command line.

Usage:
  torch_model.py logits WEIGHTS.safetensors INPUT.f32 BATCH
      Build the model from the config in the file's metadata, load the weights (strict), run the
      NHWC float32 little-endian input [BATCH, size, size, channels] and print {"logits": [[...], ...]}.
  torch_model.py init CONFIG.json OUT.safetensors SEED [INPUT.f32 BATCH]
      Build the model with random weights (every tensor N(0, 0.2^2), seeded), write them in psvit's
      format (config in the metadata); with INPUT and BATCH also print the logits as above.
"""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from psvit_torch import HVT, LN_EPS, read_safetensors, write_safetensors  # noqa: E402,F401  (re-exported)


def load_model(path, cfg=None):
    tensors, metadata = read_safetensors(path)
    if cfg is None:
        cfg = json.loads(metadata["psvit.model"])
    model = HVT(cfg)
    model.load_state_dict(tensors, strict=True)
    return model.eval()


def read_input(path, batch, cfg):
    size, C = cfg["image"]["size"], cfg["image"]["channels"]
    data = bytearray(open(path, "rb").read())
    x = torch.frombuffer(data, dtype=torch.float32).reshape(batch, size, size, C)
    return x.permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW


def print_logits(model, input_path, batch):
    with torch.no_grad():
        y = model(read_input(input_path, batch, model.cfg))
    print(json.dumps({"logits": y.double().tolist()}))


def main(argv):
    torch.set_num_threads(1)
    if len(argv) >= 4 and argv[0] == "logits":
        print_logits(load_model(argv[1]), argv[2], int(argv[3]))
        return 0
    if len(argv) in (4, 6) and argv[0] == "init":
        with open(argv[1]) as f:
            cfg_text = f.read()
        cfg = json.loads(cfg_text)
        torch.manual_seed(int(argv[3]))
        model = HVT(cfg).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn_like(p) * 0.2)
        write_safetensors(argv[2], model.state_dict(), {"format": "pt", "psvit.model": json.dumps(cfg)})
        if len(argv) == 6:
            print_logits(model, argv[4], int(argv[5]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
