"""psvit_torch: a psvit model in PyTorch.

Builds a `psvit.model` config (SPEC section 1: HVT token pooling, PSViT attention sharing) as a
`torch.nn.Module` whose state_dict has exactly the timm-style names psvit's weights files use (SPEC
section 4), so an exported `NAME.safetensors` loads as is. Needs torch; reads safetensors with the
`safetensors` package when it is installed and with a small built-in reader (json + struct) when not.

    from psvit_torch import load, preprocess
    model = load("winner.model.json", "winner.safetensors")        # eval mode, weights checked
    probs = model(preprocess(images, model.cfg)).softmax(-1)        # images: uint8 [B, H, W, C]

`preprocess` does what `psvit predict` does to images already at the model's size: scale to [0, 1],
normalise with the config's `preprocess` mean/std, NHWC -> NCHW.
"""

import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["HVT", "build", "load", "preprocess", "read_safetensors", "write_safetensors"]

LN_EPS = 1e-6


class Attention(nn.Module):
    """`attn`: own attention from fused qkv (q rows, then k, then v; heads contiguous).
    `reuse`: only v; applies the previous layer's attention probabilities."""

    def __init__(self, kind, dim, heads):
        super().__init__()
        self.kind, self.heads = kind, heads
        if kind == "attn":
            self.qkv = nn.Linear(dim, 3 * dim)
        else:
            self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, h, prev_attn):
        B, N, D = h.shape
        H, d = self.heads, D // self.heads
        if self.kind == "attn":
            q, k, v = self.qkv(h).reshape(B, N, 3, H, d).permute(2, 0, 3, 1, 4)
            attn = ((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))).softmax(dim=-1)
        else:
            if prev_attn is None:
                raise ValueError("a reuse layer needs the previous layer's attention map")
            v = self.v(h).reshape(B, N, H, d).permute(0, 2, 1, 3)
            attn = prev_attn
        out = (attn @ v).transpose(1, 2).reshape(B, N, D)
        return self.proj(out), attn


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU


class Block(nn.Module):
    def __init__(self, kind, dim, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(kind, dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, int(round(mlp_ratio * dim)))

    def forward(self, x, prev_attn):
        y, attn = self.attn(self.norm1(x), prev_attn)
        x = x + y
        x = x + self.mlp(self.norm2(x))
        return x, attn


class Pool(nn.Module):
    """max1d: max over patch tokens; linear-max1d: Linear on every token, then max1d over patch
    tokens; conv2d: Conv2d over the row-major token grid. The class token is never pooled."""

    def __init__(self, pool, dim_in, dim_out):
        super().__init__()
        self.type = pool["type"]
        self.kernel, self.stride = pool["kernel"], pool["stride"]
        self.padding = pool.get("padding", 0)
        if self.type == "linear-max1d":
            self.proj = nn.Linear(dim_in, dim_out)
        elif self.type == "conv2d":
            self.proj = nn.Conv2d(dim_in, dim_out, self.kernel, self.stride, self.padding)

    def _max1d(self, x, cls):
        start = 1 if cls else 0
        patches = x[:, start:].transpose(1, 2)  # [B, D, N]
        pooled = F.max_pool1d(patches, self.kernel, self.stride).transpose(1, 2)
        return torch.cat([x[:, :1], pooled], dim=1) if cls else pooled

    def forward(self, x, grid_in, cls):
        if self.type == "max1d":
            return self._max1d(x, cls)
        if self.type == "linear-max1d":
            return self._max1d(self.proj(x), cls)
        B, N, D = x.shape
        H, W = grid_in
        g = x.reshape(B, H, W, D).permute(0, 3, 1, 2)
        return self.proj(g).flatten(2).transpose(1, 2)


class PatchEmbed(nn.Module):
    def __init__(self, channels, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, patch, patch)

    def forward(self, x):  # NCHW -> [B, N, D], row-major
        return self.proj(x).flatten(2).transpose(1, 2)


def window_out(n, k, s, p=0):
    return (n + 2 * p - k) // s + 1


class Stage(nn.Module):
    def __init__(self, cfg, s, dim_in, seq_len):
        super().__init__()
        st = cfg["stages"][s]
        self.heads = st["heads"]
        self.pool = Pool(st["pool"], dim_in, st["dim"]) if "pool" in st else None
        if "pool" in st and st["pool"].get("posEmbed", False):
            self.pos_embed = nn.Parameter(torch.zeros(1, seq_len, st["dim"]))
        else:
            self.pos_embed = None
        self.blocks = nn.ModuleList(Block(k, st["dim"], st["heads"], cfg["mlpRatio"]) for k in st["layers"])


class HVT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        C, size, p = cfg["image"]["channels"], cfg["image"]["size"], cfg["patchSize"]
        self.cls = 1 if cfg["classToken"] else 0
        d0 = cfg["stages"][0]["dim"]
        self.patch_embed = PatchEmbed(C, d0, p)
        if self.cls:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, d0))
        side = size // p
        self.pos_embed = nn.Parameter(torch.zeros(1, side * side + self.cls, d0))
        # token geometry, as src/config/geometry.ts
        n, grid = side * side, (side, side)
        self.grids_in = []
        stages = []
        for s, st in enumerate(cfg["stages"]):
            self.grids_in.append(grid)
            pool = st.get("pool")
            if pool:
                if pool["type"] == "conv2d":
                    pad = pool.get("padding", 0)
                    grid = (window_out(grid[0], pool["kernel"], pool["stride"], pad),
                            window_out(grid[1], pool["kernel"], pool["stride"], pad))
                    n = grid[0] * grid[1]
                else:
                    n, grid = window_out(n, pool["kernel"], pool["stride"]), None
            dim_in = cfg["stages"][s - 1]["dim"] if s > 0 else st["dim"]
            stages.append(Stage(cfg, s, dim_in, n + self.cls))
        self.stages = nn.ModuleList(stages)
        dl = cfg["stages"][-1]["dim"]
        self.norm = nn.LayerNorm(dl, eps=LN_EPS)
        self.head = nn.Linear(dl, cfg["numClasses"])

    def forward(self, x):  # x: NCHW, normalised
        t = self.patch_embed(x)
        if self.cls:
            t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1)
        t = t + self.pos_embed
        for s, stage in enumerate(self.stages):
            if stage.pool is not None:
                t = stage.pool(t, self.grids_in[s], self.cls == 1)
            if stage.pos_embed is not None:
                t = t + stage.pos_embed
            attn = None
            for block in stage.blocks:
                t, attn = block(t, attn)
        t = self.norm(t)
        pooled = t[:, 0] if self.cls else t.mean(dim=1)
        return self.head(pooled)


# ---- safetensors (float32 only), as src/weights/safetensors.ts ----

def read_safetensors(path):
    """(tensors by name, metadata dict) of a float32 safetensors file."""
    try:
        from safetensors import safe_open
    except ImportError:
        return _read_safetensors_builtin(path)
    tensors = {}
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata() or {}
        for name in f.keys():
            tensors[name] = f.get_tensor(name).to(torch.float32)
    return tensors, metadata


def _read_safetensors_builtin(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: header length {n} beyond the file")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    data = bytearray(raw[8 + n:])
    tensors = {}
    for name, e in header.items():
        if e["dtype"] != "F32":
            raise ValueError(f"{path}: {name} has dtype {e['dtype']}, expected F32")
        b, end = e["data_offsets"]
        count = math.prod(e["shape"])
        if end - b != 4 * count or end > len(data):
            raise ValueError(f"{path}: {name} offsets {b}..{end} do not fit shape {e['shape']}")
        t = torch.frombuffer(data, dtype=torch.float32, count=count, offset=b) if count else torch.empty(0)
        tensors[name] = t.reshape(e["shape"]).clone()
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata} if metadata else {}
    blobs, offset = [], 0
    for name, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().cpu().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def build(config):
    """An HVT module for a config (a dict, or the path of a psvit.model JSON file), randomly initialised."""
    if isinstance(config, (str, os.PathLike)):
        with open(config) as f:
            config = json.load(f)
    if config.get("kind") != "psvit.model":
        raise ValueError(f"not a psvit.model config (kind {config.get('kind')!r})")
    return HVT(config)


def _canonical(cfg):
    """What matters for the weights and the maths: no name, defaults filled in, identity preprocess dropped."""
    out = {k: v for k, v in cfg.items() if k not in ("name", "$schema", "preprocess")}
    pre = cfg.get("preprocess")
    if pre and not (all(m == 0 for m in pre["mean"]) and all(s == 1 for s in pre["std"])):
        out["preprocess"] = pre
    stages = []
    for st in cfg["stages"]:
        st = dict(st)
        if "pool" in st:
            pool = {"posEmbed": False, **st["pool"]}
            if pool["type"] == "conv2d":
                pool.setdefault("padding", 0)
            st["pool"] = pool
        stages.append(st)
    out["stages"] = stages
    return out


def _same_model(a, b):
    return _canonical(a) == _canonical(b)


def load(config, weights):
    """The model of `config` (dict or path) with the weights of a psvit safetensors file, in eval mode.
    Raises ValueError when the file was saved for another config or its tensors do not match."""
    model = build(config)
    tensors, metadata = read_safetensors(weights)
    stored = metadata.get("psvit.model")
    if stored is not None and not _same_model(model.cfg, json.loads(stored)):
        raise ValueError(f"{weights}: the weights were saved for a different model config")
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise ValueError(f"{weights}: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    return model.eval()


def preprocess(images, cfg):
    """uint8 NHWC pixels [B, size, size, C] (a tensor or anything torch.as_tensor takes) -> the model's
    float NCHW input: x / 255, then (x - mean) / std per channel with the config's `preprocess`."""
    x = torch.as_tensor(images)
    size, C = cfg["image"]["size"], cfg["image"]["channels"]
    if x.dim() != 4 or tuple(x.shape[1:]) != (size, size, C):
        raise ValueError(f"preprocess: expected [B, {size}, {size}, {C}] pixels, got {list(x.shape)}")
    pre = cfg.get("preprocess") or {"mean": [0.0] * C, "std": [1.0] * C}
    mean = torch.tensor(pre["mean"], dtype=torch.float32)
    std = torch.tensor(pre["std"], dtype=torch.float32)
    x = (x.to(torch.float32) / 255.0 - mean) / std
    return x.permute(0, 3, 1, 2).contiguous()
