#!/usr/bin/env bash
# Issue 18 item 3: the webgpu backend checked and measured on a machine with an NVIDIA GPU, CUDA and
# PyTorch, no Node and no internet, from a copy of the repository plus .gpu-carry/ (bench/gpu/pack.sh
# builds it here: Node, the bundled check, Dawn's dawn.node, the wasm binaries, libvulkan.so.1; 48 MiB).
#
#   bash bench/gpu-check.sh [OUT.json] [--allow-software] [--quick] [--threads N]
#
# Prints the adapter (exit 1 unless NVIDIA), runs the parity checks (test/engine/webgpu-parity.ts's
# cases and five training steps against the cpu backend), measures training-step and forward images/s
# on webgpu and wasm (bench/gpu/check.ts), then PyTorch on CUDA with the same configs
# (bench/torch_ref.py --device cuda), and writes one JSON file (default $OUT/gpu-check.json, else
# ./gpu-check.json). Ends within 5 minutes on an H200 (each part has its own time limit).
set -uo pipefail
cd "$(dirname "$0")/.."
carry=.gpu-carry
out=${OUT:-.}/gpu-check.json
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then out=$1; shift; fi
[ -f "$carry/check.mjs" ] || { echo "gpu-check: $carry/check.mjs missing: run bash bench/gpu/pack.sh first (where npm works)" >&2; exit 2; }
PY=${PYTHON:-python3}

# Node: the machine's own if it is ≥ 20, else the carried one (unpacked with Python's lzma: no xz needed)
NODE=$(command -v node || true)
if [ -z "$NODE" ] || [ "$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 20 ]; then
  NODE=/tmp/psvit-node
  [ -x "$NODE" ] || "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$carry/node.xz" "$NODE"
  chmod +x "$NODE"
fi
# Vulkan: the loader where the machine has none, and the NVIDIA driver's ICD where it sits off the
# standard paths (containers that mount the driver under /usr/local/nvidia)
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1 '; then
  export LD_LIBRARY_PATH="$PWD/$carry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if [ -z "${VK_DRIVER_FILES:-}" ] && ! ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json >/dev/null 2>&1; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/icd.d/nvidia_icd.json; do
    [ -f "$f" ] && export VK_DRIVER_FILES=$f && break
  done
fi
echo "gpu-check: node $("$NODE" --version), $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 || echo 'no nvidia-smi')"

part=$(mktemp -d)
timeout 200 "$NODE" "$carry/check.mjs" --out "$part/webgpu.json" "$@"
rc=$?
[ -f "$part/webgpu.json" ] || { echo "gpu-check: the webgpu check wrote nothing (exit $rc)" >&2; exit 1; }

# PyTorch on CUDA: the same configs, batch sizes and step (bench/torch_ref.py), merged into one file
timeout 90 "$PY" - "$part/webgpu.json" "$out" <<'PYEOF'
import json, os, subprocess, sys, tempfile
src, dst = sys.argv[1], sys.argv[2]
res = json.load(open(src))
here = os.path.dirname(os.path.abspath("bench/torch_ref.py"))
try:
    import torch
    device = "cuda" if torch.cuda.is_available() else None
    res["torch"] = {"version": torch.__version__, "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(0) if device else None}
except Exception as e:  # no torch: the webgpu and wasm numbers still count
    device, res["torch"] = None, {"error": str(e)}
for row in res.get("throughput", []):
    if device is None:
        row["torch_cuda"] = {"error": "no CUDA device visible to PyTorch"}
        continue
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(row["config"], f)
    p = subprocess.run([sys.executable, os.path.join(here, "torch_ref.py"), f.name, "--device", "cuda",
                        "--batch", str(row["batch"]), "--steps", "20", "--warmup", "5", "--json"],
                       capture_output=True, text=True, timeout=60)
    row["torch_cuda"] = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {"error": p.stderr[-500:]}
json.dump(res, open(dst, "w"), indent=1)
print("| model | batch | webgpu train / fwd img/s | wasm train / fwd img/s | PyTorch CUDA train / fwd img/s |")
print("| --- | --- | --- | --- | --- |")
for r in res.get("throughput", []):
    f = lambda d: f"{d['train_img_s']} / {d['fwd_img_s']}" if "train_img_s" in d else d.get("error", "?")[:40]
    print(f"| {r['model']} | {r['batch']} | {f(r['webgpu'])} | {f(r['wasm'])} | {f(r['torch_cuda'])} |")
print(f"gpu-check: wrote {dst}")
PYEOF
prc=$?
rm -rf "$part"
[ $rc -ne 0 ] && exit $rc
exit $prc
