#!/usr/bin/python3
"""PyTorch training with exactly psvit's recipe (issue 14, training parity): the same architecture
(bench/torch_model.py's HVT) on the same data (the embedded Fashion-MNIST subset), the same
preprocessing, augmentation, initialisation distribution, optimizer, schedule, loss and clipping, so
that final validation accuracies of `psvit train` and of this script can be compared seed for seed.

Usage:
  torch_train.py CONFIG.model.json [--recipe configs/recipes/fmnist.json] [--epochs E] [--seed S]
                 [--threads 1] [--json] [--out RESULT.json] [--max-steps N] [--eval-images N]
                 [--init-weights W.safetensors] [--data-dir data/fashion-mnist-small]
                 [--check [--check-steps 3]]

What is mirrored, and from where (src/...):
  data       data/fashion-mnist-small/{train,val}-{images-idx3,labels-idx1}-ubyte.gz (IDX, gzip detected
             from the magic bytes as data/idx.ts): train 10,000, val 2,000 (the shipped split).
  fit        data/fit.ts: channels 1 -> 3 replicate the grey value; 28x28 -> SxS zero-pad centred (the odd
             pixel bottom/right). A model smaller than the images (psvit resizes) is refused here.
  normalise  the config's `preprocess` {mean, std} when present, else data/stats.ts computeStats of the
             fitted training split (per channel, pixels/255, population std, rounded to 1e-6 as JS
             Math.round; a constant channel gets std 1), applied through the same float32 lookup table
             float32((v/255 - mean)/std) (data/kernels.ts buildLut): bit-identical inputs.
  augment    data/kernels.ts prepareBatch: per image dy, dx uniform in [-p, p] and a flip with probability
             flipProb (embedded data: p = 2, flip 0.5, data/augment.ts; recipe.augment overrides); the
             crop window reads black (pixel value 0, i.e. lut[0] after normalisation) outside the
             image; the flip mirrors the cropped window (out[y][x] = in[y + dy][W-1-x + dx]).
  batches    data/batch.ts + train/loop.ts: a fresh random permutation each epoch, dropLast (the last
             partial batch is dropped): stepsPerEpoch = floor(N / batchSize).
  init       model/params.ts: truncated normal std 0.02 cut at +-2 std for Linear/Conv/patch weights,
             pos_embed and cls_token; zeros for biases; LayerNorm weight 1, bias 0.
  optimizer  engine/adamw.ts: torch.optim.AdamW (the same update: decoupled decay p -= lr*wd*p, bias
             corrected moments, eps added to sqrt(v)/sqrt(1-b2^t)); decay mask defaultDecayMask
             applied literally to psvit's internal shapes (Linear [in, out], Conv [k*k*cin, cout]):
             decay iff rank >= 2 and the leaf name is neither pos_embed nor cls_token.
  schedule   train/schedule.ts lrAt, stepped per iteration, with warmupSteps = round(warmupEpochs *
             stepsPerEpoch), totalSteps = max(1, round(epochs * stepsPerEpoch)) (JS rounding).
  loss       train/loss.ts: mean cross-entropy against (1 - eps) * onehot + eps / K.
  clipping   train/loop.ts + engine/adamw.ts clipGradNorm: torch.nn.utils.clip_grad_norm_ (scale by
             min(1, maxNorm / (norm + 1e-6))); recipe null: off. A non-finite loss or gradient norm stops
             the run before the update (exit 3), as psvit does.
  eval       train/evaluate.ts: after every epoch (and after the last step) top-1 on the validation
             split in fixed order, no augmentation, eval batch from the recipe; ties count in the
             label's favour, a row with a non-finite score never hits (loss.ts topkHits).
  recipe     config/recipe.ts defaults for fields the file leaves out.
Not mirrored: the random numbers themselves (psvit's xoshiro128** streams for init, order, crops and
flips); the draws here come from torch's generators with the same distributions.

--threads N sets OMP/OPENBLAS/MKL_NUM_THREADS before torch is imported and torch.set_num_threads(N).
With --json the last line of stdout is {"epochs", "seed", "val_top1_per_epoch", "final_val_top1",
"seconds", "steps", ...}; --out FILE also writes it to FILE (atomically). --max-steps N stops after N
steps (the schedule still spans the full run, as psvit's --stop-after) and evaluates then (smoke tests).
--check prints (JSON) the preprocessing, the schedule's step counts, the learning rate at steps 0,
warmupSteps and totalSteps - 1, and the loss at init on one fixed batch (the first batchSize training
images, no augmentation), then --check-steps (3) training steps on that batch at lr_at(warmupSteps + k)
with their losses and gradient norms, then exits. With --init-weights (psvit's initial weights) the
numbers must equal psvit's up to float rounding; bench/parity.mjs --check runs both and compares.
"""

import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_RECIPE = os.path.join(ROOT, "configs/recipes/fmnist.json")
DEFAULT_DATA = os.path.join(ROOT, "data/fashion-mnist-small")


def js_round(x):
    """JavaScript's Math.round (halves go up), not Python's round (halves to even)."""
    return math.floor(x + 0.5)


# ---- recipe (src/config/recipe.ts: the schema's defaults) ----

RECIPE_KEYS = {"$schema", "kind", "version", "name", "epochs", "batchSize", "evalBatchSize", "optimizer",
               "schedule", "labelSmoothing", "clipGradNorm", "augment", "checkpoint", "logEverySteps"}


def load_recipe(path, epochs=None):
    with open(path) as f:
        raw = json.load(f)

    def fail(msg):
        raise SystemExit(f"{path}: {msg}")

    if raw.get("kind") != "psvit.recipe" or raw.get("version") != 1:
        fail('not a psvit.recipe v1 (kind "psvit.recipe", version 1)')
    extra = set(raw) - RECIPE_KEYS
    if extra:
        fail(f"unknown field(s) {sorted(extra)}")
    for k in ("epochs", "batchSize", "optimizer", "schedule"):
        if k not in raw:
            fail(f"{k} is required")
    opt, sch = raw["optimizer"], raw["schedule"]
    if opt.get("type") != "adamw" or sch.get("type") != "cosine":
        fail("only optimizer adamw and schedule cosine exist")
    for k, d in ((opt, "lr"), (opt, "weightDecay"), (sch, "warmupEpochs")):
        if d not in k:
            fail(f"{d} is required")
    aug = raw.get("augment", {})
    r = {
        "epochs": float(raw["epochs"] if epochs is None else epochs),
        "batchSize": int(raw["batchSize"]),
        "evalBatchSize": int(raw.get("evalBatchSize", 256)),
        "lr": float(opt["lr"]),
        "betas": tuple(float(b) for b in opt.get("betas", [0.9, 0.999])),
        "eps": float(opt.get("eps", 1e-8)),
        "weightDecay": float(opt["weightDecay"]),
        "warmupEpochs": float(sch["warmupEpochs"]),
        "warmupStartLr": float(sch.get("warmupStartLr", 1e-6)),
        "minLr": float(sch.get("minLr", 1e-5)),
        "labelSmoothing": float(raw.get("labelSmoothing", 0.1)),
        "clipGradNorm": raw.get("clipGradNorm", 5),  # null: off
        "augment": {k: aug[k] for k in ("cropPadding", "flipProb") if k in aug},
    }
    if not r["epochs"] > 0:
        fail(f"epochs must be > 0, got {r['epochs']}")
    if r["minLr"] > r["lr"]:
        fail(f"minLr {r['minLr']} is above optimizer.lr {r['lr']}")
    if not 0 <= r["labelSmoothing"] < 1:
        fail(f"labelSmoothing must be in [0, 1), got {r['labelSmoothing']}")
    return r


# ---- schedule (src/train/schedule.ts) ----

def lr_at(s, step):
    if step < s["warmupSteps"]:
        return s["warmupStartLr"] + (s["lr"] - s["warmupStartLr"]) * step / s["warmupSteps"]
    span = max(1, s["totalSteps"] - s["warmupSteps"] - 1)
    t = min(1, (step - s["warmupSteps"]) / span)
    return s["minLr"] + 0.5 * (s["lr"] - s["minLr"]) * (1 + math.cos(math.pi * t))


# ---- data (src/data/idx.ts, fit.ts, stats.ts, kernels.ts) ----

def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] == 0:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    nd = raw[3]
    dims = list(struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd]))
    data = raw[4 + 4 * nd:]
    if len(data) < math.prod(dims):
        raise SystemExit(f"{path}: truncated")
    return dims, data[:math.prod(dims)]


def read_split(torch, data_dir, split):
    dims, px = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    ldims, lb = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"))
    if len(dims) != 3 or ldims != dims[:1]:
        raise SystemExit(f"{data_dir}: {split} images {dims} and labels {ldims} do not match")
    images = torch.frombuffer(bytearray(px), dtype=torch.uint8).reshape(dims[0], dims[1], dims[2], 1)
    labels = torch.frombuffer(bytearray(lb), dtype=torch.uint8).long()
    return images, labels


def fit_images(torch, images, size, channels):
    """fit.ts fitImages for images that fit: channel conversion, then zero-pad centred."""
    n, h, w, c = images.shape
    if channels != c:
        if c == 1 and channels == 3:
            images = images.expand(n, h, w, 3)
        else:
            raise SystemExit(f"cannot convert {c}-channel images to {channels} channels here")
    if h == size and w == size:
        return images.contiguous()
    if h > size or w > size:
        raise SystemExit(f"a {size}x{size} model on {h}x{w} images needs psvit's resize (not mirrored here)")
    top, left = (size - h) // 2, (size - w) // 2
    out = torch.zeros(n, size, size, channels, dtype=torch.uint8)
    out[:, top:top + h, left:left + w] = images
    return out


def compute_stats(torch, images):
    """stats.ts computeStats: from a 256-bin histogram per channel, in float64, rounded to 1e-6."""
    c = images.shape[-1]
    flat = images.reshape(-1, c)
    mean, std = [], []
    for ch in range(c):
        hist = torch.bincount(flat[:, ch].long(), minlength=256).tolist()
        n = s = 0.0
        for v in range(256):
            n += hist[v]
            s += hist[v] * (v / 255)
        m = s / n if n > 0 else 0.0
        ss = 0.0
        for v in range(256):
            ss += hist[v] * (v / 255 - m) ** 2
        mean.append(js_round(m * 1e6) / 1e6)
        sd = js_round(math.sqrt(ss / n if n > 0 else 0.0) * 1e6) / 1e6
        std.append(sd if sd > 0 else 1)
    return {"mean": mean, "std": std}


def build_lut(torch, pre, channels):
    """kernels.ts buildLut: float32((v/255 - mean[c]) / std[c]), the division in float64."""
    rows = [[(v / 255 - pre["mean"][c]) / pre["std"][c] for v in range(256)] for c in range(channels)]
    return torch.tensor(rows, dtype=torch.float64).to(torch.float32)  # [C, 256]


def normalise(torch, lut, x):
    """uint8 NHWC -> float32 NCHW through the lookup table."""
    c = x.shape[-1]
    out = lut[torch.arange(c).view(1, 1, 1, c), x.long()]
    return out.permute(0, 3, 1, 2).contiguous()


def draw_augment(torch, b, pad, flip_prob, gen):
    """Per image: dy, dx uniform in [-pad, pad], flip with probability flip_prob (3 draws, as psvit)."""
    dy = torch.randint(-pad, pad + 1, (b,), generator=gen)
    dx = torch.randint(-pad, pad + 1, (b,), generator=gen)
    flip = torch.rand(b, generator=gen) < flip_prob
    return dy, dx, flip


def crop_flip(torch, padded, idx, size, pad, dy, dx, flip):
    """prepareBatch's crop + flip, on uint8 images padded by `pad` black pixels on every side:
    out[y][x] = img[y + dy][(W-1-x if flip else x) + dx], black outside the image."""
    b = idx.numel()
    ar = torch.arange(size).view(1, size)
    rows = ar + pad + dy.view(b, 1)  # [B, S]
    cols = torch.where(flip.view(b, 1), size - 1 - ar, ar) + pad + dx.view(b, 1)
    return padded[idx.view(b, 1, 1), rows.view(b, size, 1), cols.view(b, 1, size)]  # [B, S, S, C]


# ---- model init and decay mask (src/model/params.ts, src/engine/adamw.ts) ----

def init_params(torch, model):
    """timm-ViT init as params.ts; returns (name, parameter, psvit internal shape) for every parameter."""
    nn = torch.nn
    out, seen = [], set()
    for mname, mod in model.named_modules():
        prefix = f"{mname}." if mname else ""
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            nn.init.trunc_normal_(mod.weight, mean=0.0, std=0.02, a=-0.04, b=0.04)
            nn.init.zeros_(mod.bias)
            w = mod.weight
            internal = [w.shape[1], w.shape[0]] if isinstance(mod, nn.Linear) else \
                [w.shape[2] * w.shape[3] * w.shape[1], w.shape[0]]
            out += [(prefix + "weight", w, internal), (prefix + "bias", mod.bias, list(mod.bias.shape))]
        elif isinstance(mod, nn.LayerNorm):
            nn.init.ones_(mod.weight)
            nn.init.zeros_(mod.bias)
            out += [(prefix + "weight", mod.weight, list(mod.weight.shape)),
                    (prefix + "bias", mod.bias, list(mod.bias.shape))]
        else:
            for pname, p in mod.named_parameters(recurse=False):
                if pname not in ("pos_embed", "cls_token"):
                    raise SystemExit(f"init: no rule for parameter {prefix + pname}")
                nn.init.trunc_normal_(p, mean=0.0, std=0.02, a=-0.04, b=0.04)
                out.append((prefix + pname, p, list(p.shape)))
    for name, _, _ in out:
        seen.add(name)
    missing = [n for n, _ in model.named_parameters() if n not in seen]
    if missing or len(seen) != len(out):
        raise SystemExit(f"init: parameters without an init rule {missing}")
    return out


def default_decay_mask(name, shape):
    """engine/adamw.ts defaultDecayMask, on psvit's internal shape."""
    if len(shape) < 2:
        return False
    leaf = name[name.rfind(".") + 1:]
    return leaf != "pos_embed" and leaf != "cls_token"


def smoothed_ce(torch, logits, y, eps):
    k = logits.shape[1]
    target = torch.nn.functional.one_hot(y, k).to(logits.dtype) * (1 - eps) + eps / k
    return -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def train_step(torch, model, opt, params, x, y, lr, r):
    """One step as train/loop.ts: loss, backward, global gradient norm (clipped to the recipe's
    clipGradNorm), a non-finite check before the update, AdamW at `lr`. Returns (loss, norm, ok)."""
    for g in opt.param_groups:
        g["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss = smoothed_ce(torch, model(x), y, r["labelSmoothing"])
    loss.backward()
    if r["clipGradNorm"] is not None:
        gnorm = float(torch.nn.utils.clip_grad_norm_(params, float(r["clipGradNorm"])))
    else:
        gnorm = float(torch.linalg.vector_norm(torch.stack([q.grad.norm() for q in params])))
    lv = float(loss)
    if not (math.isfinite(lv) and math.isfinite(gnorm)):
        return lv, gnorm, False  # psvit stops before the update: weights and moments untouched
    opt.step()
    return lv, gnorm, True


def make_optimizer(torch, params, r):
    """AdamW with two groups: defaultDecayMask's tensors get the recipe's weightDecay, the rest none."""
    decay = [prm for nm, prm, shape in params if default_decay_mask(nm, shape)]
    no_decay = [prm for nm, prm, shape in params if not default_decay_mask(nm, shape)]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": r["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=r["lr"], betas=r["betas"], eps=r["eps"],
    )


def evaluate(torch, model, x_val, y_val, batch, limit=None):
    """train/evaluate.ts: fixed order, no augmentation; top-1/top-5 with ties for the label, plain CE."""
    n = x_val.shape[0] if limit is None else min(limit, x_val.shape[0])
    top1 = top5 = 0
    loss_sum = 0.0
    model.eval()
    with torch.no_grad():
        for s in range(0, n, batch):
            x, y = x_val[s:min(n, s + batch)], y_val[s:min(n, s + batch)]
            logits = model(x)
            higher = (logits > logits.gather(1, y.view(-1, 1))).sum(dim=1)
            finite = torch.isfinite(logits).all(dim=1)  # a row with NaN or +-inf never hits (topkHits)
            top1 += int(((higher == 0) & finite).sum())
            top5 += int(((higher < 5) & finite).sum())
            loss_sum += float(torch.nn.functional.cross_entropy(logits, y)) * x.shape[0]
    model.train()
    return {"top1": top1 / n, "top5": top5 / n, "loss": loss_sum / n, "n": n}


def write_atomic(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description="PyTorch training with psvit's recipe (see the module doc)")
    ap.add_argument("config")
    ap.add_argument("--recipe", default=DEFAULT_RECIPE)
    ap.add_argument("--epochs", type=float, default=None, help="override the recipe's epochs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", default=None, help="also write the result JSON to this file")
    ap.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (smoke tests)")
    ap.add_argument("--eval-images", type=int, default=None, help="validation images per evaluation")
    ap.add_argument("--init-weights", default=None, help="start from these weights (psvit safetensors)")
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--check", action="store_true", help="print init loss, lr at key steps, stats; exit")
    ap.add_argument("--check-steps", type=int, default=3, help="--check: steps on the fixed batch")
    a = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)

    import torch

    sys.path.insert(0, HERE)
    from torch_model import HVT, read_safetensors

    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    with open(a.config) as f:
        cfg = json.load(f)
    r = load_recipe(a.recipe, a.epochs)
    size, ch = cfg["image"]["size"], cfg["image"]["channels"]
    if cfg["numClasses"] != 10:
        raise SystemExit(f"the data has 10 classes but the model has numClasses {cfg['numClasses']}")

    # data: fit, stats of the fitted training split (or the config's preprocess), lookup table
    x_train, y_train = read_split(torch, a.data_dir, "train")
    x_val, y_val = read_split(torch, a.data_dir, "val")
    x_train, x_val = fit_images(torch, x_train, size, ch), fit_images(torch, x_val, size, ch)
    pre = cfg.get("preprocess") or compute_stats(torch, x_train)
    lut = build_lut(torch, pre, ch)
    xv = normalise(torch, lut, x_val)
    aug = {"cropPadding": 2, "flipProb": 0.5, **r["augment"]}  # augment.ts defaultAugment("embedded")
    pad, flip_prob = int(aug["cropPadding"]), float(aug["flipProb"])
    p = pad
    padded = torch.zeros(x_train.shape[0], size + 2 * p, size + 2 * p, ch, dtype=torch.uint8)
    padded[:, p:p + size, p:p + size] = x_train

    n, B = x_train.shape[0], r["batchSize"]
    spe = n // B  # dropLast
    if spe == 0:
        raise SystemExit(f"batch size {B} with dropLast leaves no batch from {n} images")
    sched = {
        "lr": r["lr"], "minLr": r["minLr"], "warmupStartLr": r["warmupStartLr"],
        "warmupSteps": js_round(r["warmupEpochs"] * spe),
        "totalSteps": max(1, js_round(r["epochs"] * spe)),
    }
    total = sched["totalSteps"]

    # model: psvit's init distribution from torch's generator (seeded), or given weights
    torch.manual_seed(a.seed)
    model = HVT(cfg)
    params = init_params(torch, model)
    if a.init_weights:
        tensors, _ = read_safetensors(a.init_weights)
        model.load_state_dict(tensors, strict=True)
    model.train()

    all_params = [prm for _, prm, _ in params]
    opt = make_optimizer(torch, params, r)
    w = sched["warmupSteps"]
    if a.check:
        x0, y0 = normalise(torch, lut, x_train[:B]), y_train[:B]
        with torch.no_grad():
            loss0 = float(smoothed_ce(torch, model(x0), y0, r["labelSmoothing"]))
        # a few steps on the fixed batch at the peak-region rates lr_at(w + k): checks AdamW, decay, clipping
        steps = []
        for k in range(a.check_steps):
            lr = lr_at(sched, min(w + k, total - 1))
            lv, gn, ok = train_step(torch, model, opt, all_params, x0, y0, lr, r)
            steps.append({"lr": lr, "loss": lv, "grad_norm": gn})
            if not ok:
                break
        with torch.no_grad():
            loss_after = float(smoothed_ce(torch, model(x0), y0, r["labelSmoothing"]))
        print(json.dumps({
            "preprocess": pre, "augment": aug, "stepsPerEpoch": spe, "warmupSteps": w, "totalSteps": total,
            "lr": {"0": lr_at(sched, 0), "warmup": lr_at(sched, w), "last": lr_at(sched, total - 1)},
            "init_loss": loss0, "batch": B, "labelSmoothing": r["labelSmoothing"],
            "fixed_batch_steps": steps, "loss_after_steps": loss_after,
            "decayed": [nm for nm, _, shape in params if default_decay_mask(nm, shape)],
            "torch": torch.__version__,
        }))
        return 0

    gen = torch.Generator().manual_seed((a.seed << 20) ^ 0x9E43A)  # data order + augmentation
    epochs_shown = math.ceil(r["epochs"])
    evals, step_secs, perm = [], [], None
    step = 0
    stop_at = total if a.max_steps is None else min(total, a.max_steps)
    t_train = time.perf_counter()
    while step < stop_at:
        index = step % spe
        if index == 0:
            perm = torch.randperm(n, generator=gen)
        t0 = time.perf_counter()
        idx = perm[index * B:(index + 1) * B]
        if pad > 0 or flip_prob > 0:
            xb = crop_flip(torch, padded, idx, size, pad, *draw_augment(torch, B, pad, flip_prob, gen))
        else:
            xb = x_train[idx]
        x, y = normalise(torch, lut, xb), y_train[idx]
        lr = lr_at(sched, step)
        lv, gnorm, ok = train_step(torch, model, opt, all_params, x, y, lr, r)
        if not ok:
            print(f"loss {lv}, gradient norm {gnorm} at step {step + 1}: stopped before the update",
                  file=sys.stderr)
            return 3
        step += 1
        step_secs.append(time.perf_counter() - t0)
        if step == 1 or step % 20 == 0:
            print(f"step {step}/{total} loss {lv:.4f} lr {lr:.3e} grad_norm {gnorm:.3f}", file=sys.stderr)
        if step % spe == 0 or step == stop_at:
            e = evaluate(torch, model, xv, y_val, r["evalBatchSize"], a.eval_images)
            evals.append(e["top1"])
            print(f"epoch {math.ceil(step / spe)}/{epochs_shown} (step {step}/{total}): val top-1 "
                  f"{e['top1'] * 100:.2f}%, top-5 {e['top5'] * 100:.2f}%, loss {e['loss']:.4f} "
                  f"[{time.perf_counter() - t_train:.0f} s]", flush=True)
    seconds = time.perf_counter() - t_start
    step_secs.sort()
    res = {
        "epochs": r["epochs"], "seed": a.seed, "val_top1_per_epoch": evals,
        "final_val_top1": evals[-1] if evals else None, "seconds": round(seconds, 2), "steps": step,
        "total_steps": total,
        "sec_per_step_median": round(step_secs[len(step_secs) // 2], 5) if step_secs else None,
        "threads": a.threads, "torch": torch.__version__, "preprocess": pre, "config": cfg.get("name"),
    }
    line = json.dumps(res)
    if a.out:
        write_atomic(a.out, line + "\n")
    if a.json:
        print(line)
    else:
        print(f"trained {step} steps in {seconds:.1f} s; final val top-1 {res['final_val_top1'] * 100:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
