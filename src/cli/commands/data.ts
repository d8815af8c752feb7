/**
 * `psvit data [--data SPEC] [--data-dir DIR] [--image-size N] [--channels C] [--val-fraction F |
 * --val-size N] [--seed S] [--json]`: what a `--data` spec resolves to — sources, sizes, classes,
 * per-class counts, the fitting applied, the training split's mean/std and the default augmentation.
 */
import { type DataInfo, resolveData } from "../../data/resolve.js";
import { type Io, table } from "../io.js";

export interface DataOptions {
  data?: string;
  dataDir?: string;
  skipBadImages?: boolean;
  imageSize?: number;
  channels?: number;
  valFraction?: number;
  valSize?: number;
  seed?: number;
  json?: boolean;
}

function fmt(xs: number[]): string {
  return `[${xs.map((x) => x.toFixed(4)).join(", ")}]`;
}

/** Human-readable report of a resolved `--data` spec. */
export function formatDataInfo(info: DataInfo): string {
  const { native, input, splits } = info;
  const lines: string[] = [];
  lines.push(`data:        ${info.spec} (${info.kind})`);
  lines.push(`location:    ${info.location}`);
  lines.push(
    `images:      ${native.height > 0 ? `${native.height}x${native.width}x${native.channels}` : "any sizes (streamed)"} → input ${input.height}x${input.width}x${input.channels}`,
  );
  lines.push(`fit:         ${info.fit}`);
  const v = info.validation;
  lines.push(
    `validation:  ${
      v.method === "shipped"
        ? v.note
        : `stratified carve-out of ${v.valSize} images from the training set, seed ${v.seed}` +
          (v.valFraction !== undefined ? ` (fraction ${v.valFraction})` : "")
    }`,
  );
  lines.push(`mean:        ${fmt(info.preprocess.mean)}   (training split, pixels in [0, 1])`);
  lines.push(`std:         ${fmt(info.preprocess.std)}`);
  lines.push(
    `augment:     ${rrcText(info.augment.randomResizedCrop) ?? `crop padding ${info.augment.cropPadding}`}, flip probability ${info.augment.flipProb} (training only)`,
  );
  lines.push("");
  const head = ["class", "name", "train", "val", ...(splits.test ? ["test"] : [])];
  const rows = info.classNames.map((name, c) => [
    String(c),
    name,
    String(splits.train.perClass[c]),
    String(splits.val.perClass[c]),
    ...(splits.test ? [String(splits.test.perClass[c])] : []),
  ]);
  const total = [
    "",
    "total",
    String(splits.train.n),
    String(splits.val.n),
    ...(splits.test ? [String(splits.test.n)] : []),
  ];
  lines.push(table([head, ...rows, total], ["r", "l", "r", "r", "r"]));
  return lines.join("\n");
}

/** Resolve `opts.data` and print it (JSON with `--json`). DataError / UsageError propagate (exit 2). */
export async function dataCommand(opts: DataOptions, io: Io): Promise<void> {
  const { info } = await resolveData(opts.data, {
    dataDir: opts.dataDir,
    skipBadImages: opts.skipBadImages,
    imageSize: opts.imageSize,
    channels: opts.channels,
    valFraction: opts.valFraction,
    valSize: opts.valSize,
    seed: opts.seed ?? 0,
  });
  io.out(opts.json ? JSON.stringify(info, null, 2) : formatDataInfo(info));
}

function rrcText(r: { scale: [number, number]; ratio: [number, number] } | null | undefined): string | null {
  if (!r) return null;
  const f = (x: number) => String(Math.round(x * 1000) / 1000);
  return `RandomResizedCrop scale ${f(r.scale[0])}–${f(r.scale[1])}, ratio ${f(r.ratio[0])}–${f(r.ratio[1])}`;
}
