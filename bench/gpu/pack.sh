#!/usr/bin/env bash
# Issue 18 item 3: build the folder bench/gpu-check.sh carries to a GPU machine (.gpu-carry/, ≤ 64 MiB;
# ignored by git). A GPU machine here has CUDA and PyTorch but no Node and no internet, so it holds:
#   node.xz                     this machine's Node binary, xz-compressed (glibc ≥ 2.28; Dawn needs 2.34)
#   check.mjs                   bench/gpu/check.ts bundled by esbuild with psvit, tfjs (core, cpu, wasm,
#                               webgpu backends) and the parity cases (test/engine/webgpu-parity.ts)
#   node_modules/webgpu/        Dawn's Node bindings: package.json, its JS, dist/linux-x64/dawn.node only
#   node_modules/@tensorflow/tfjs-backend-wasm/
#                               package.json, its main JS (for require.resolve) and the .wasm binaries
#   lib/libvulkan.so.1          the Vulkan loader (the GPU machine has the NVIDIA driver's ICD, maybe no loader)
# Usage: bash bench/gpu/pack.sh   (then: bash bench/gpu-check.sh on the GPU machine; docs/ENGINE.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.gpu-carry
rm -rf "$out"
mkdir -p "$out/lib" "$out/node_modules/@tensorflow/tfjs-backend-wasm/dist" "$out/node_modules/webgpu/dist/linux-x64"

# one ES module: everything but Dawn's native part (a package beside it) and the wasm binaries (read
# from tfjs-backend-wasm's folder at run time)
npx esbuild bench/gpu/check.ts --bundle --platform=node --format=esm --target=node20 --minify-syntax --minify-whitespace=false \
  --external:webgpu --outfile="$out/check.mjs" --log-level=warning \
  --banner:js='import { createRequire as __cr } from "node:module"; import { fileURLToPath as __fu } from "node:url"; import { dirname as __dn } from "node:path"; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);'

wasm=node_modules/@tensorflow/tfjs-backend-wasm
cp "$wasm/package.json" "$out/$wasm/"
cp "$wasm"/dist/*.wasm "$wasm/dist/tf-backend-wasm.node.js" "$out/$wasm/dist/"
dawn=node_modules/webgpu
cp "$dawn/package.json" "$out/$dawn/"
for f in $(cd "$dawn" && ls *.js *.mjs *.cjs 2>/dev/null); do cp "$dawn/$f" "$out/$dawn/"; done
cp "$dawn/dist/linux-x64/dawn.node" "$out/$dawn/dist/linux-x64/"
[ -d "$dawn/dist" ] && for f in $(cd "$dawn/dist" && ls *.js *.mjs *.cjs 2>/dev/null); do cp "$dawn/dist/$f" "$out/$dawn/dist/"; done
cp -L "$(ldconfig -p | awk '/libvulkan.so.1 .*x86-64/ {print $NF; exit}')" "$out/lib/libvulkan.so.1"
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" > "$out/node.xz"

bytes=$(du -sb "$out" | cut -f1)
echo "pack: $out is $((bytes / 1048576)) MiB ($(ls "$out" | tr '\n' ' '))"
if [ "$bytes" -gt $((64 * 1048576)) ]; then
  echo "pack: over the 64 MiB a device call may carry" >&2
  exit 1
fi
