/**
 * The torchvision / timm image transforms, as geometry: which rectangle of a source image becomes the
 * model's size×size input, and whether it is mirrored. The pixels are then cut, resized and flipped by
 * the decoder (src/data/stream/decode.ts, libvips through sharp).
 *
 * - Training (`RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3))` + `RandomHorizontalFlip`):
 *   torchvision's algorithm exactly — up to 10 draws of an area fraction (uniform in `scale`) and a
 *   log-uniform aspect ratio, the first rectangle that fits is placed uniformly; else the centre crop
 *   with the ratio clamped to the range — then resized to size×size.
 * - Evaluation (`Resize(int(size / 0.875))` + `CenterCrop(size)`): the shorter side resized to
 *   floor(size / 0.875), the longer in proportion (int), and the centre size×size cut out
 *   (torchvision's rounding: top = round((h − size) / 2)).
 *
 * Every random number comes from a generator the caller seeds with the image's coordinates (seed,
 * epoch, batch, position), so a resumed run makes the same crops. Pure: no I/O.
 */
import type { Rng } from "../../util/rng.js";

export interface RandomResizedCropOptions {
  scale: [number, number];
  ratio: [number, number];
  flipProb: number;
}

export const IMAGENET_TRAIN: RandomResizedCropOptions = {
  scale: [0.08, 1],
  ratio: [3 / 4, 4 / 3],
  flipProb: 0.5,
};

/** The eval transform's resize ratio (timm's crop_pct 0.875). */
export const CROP_PCT = 0.875;

/** A source rectangle (rows top..top+height, columns left..left+width) and a flip. */
export interface CropPlan {
  top: number;
  left: number;
  height: number;
  width: number;
  flip: boolean;
}

/** Python's round(): halves to the even neighbour (torchvision rounds with it). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision's randint(lo, hi): inclusive of both ends. */
function randint(rng: Rng, lo: number, hi: number): number {
  return lo + rng.int(hi - lo + 1);
}

function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.float();
}

/** RandomResizedCrop's rectangle for an H×W image, then the flip. */
export function randomResizedCrop(
  H: number,
  W: number,
  rng: Rng,
  o: RandomResizedCropOptions = IMAGENET_TRAIN,
): CropPlan {
  const area = H * W;
  const logRatio = [Math.log(o.ratio[0]), Math.log(o.ratio[1])];
  let plan: Omit<CropPlan, "flip"> | undefined;
  for (let attempt = 0; attempt < 10 && !plan; attempt++) {
    const target = area * uniform(rng, o.scale[0], o.scale[1]);
    const aspect = Math.exp(uniform(rng, logRatio[0], logRatio[1]));
    const w = roundHalfEven(Math.sqrt(target * aspect));
    const h = roundHalfEven(Math.sqrt(target / aspect));
    if (w > 0 && w <= W && h > 0 && h <= H)
      plan = { top: randint(rng, 0, H - h), left: randint(rng, 0, W - w), height: h, width: w };
  }
  if (!plan) {
    const inRatio = W / H;
    let [w, h] = [W, H];
    if (inRatio < Math.min(...o.ratio)) h = roundHalfEven(w / Math.min(...o.ratio));
    else if (inRatio > Math.max(...o.ratio)) w = roundHalfEven(h * Math.max(...o.ratio));
    plan = { top: Math.floor((H - h) / 2), left: Math.floor((W - w) / 2), height: h, width: w };
  }
  const flip = o.flipProb > 0 && rng.float() < o.flipProb;
  return { ...plan, flip };
}

/** The eval transform for an H×W image: the resized size, then the centre crop in it. */
export function evalResizeCrop(
  H: number,
  W: number,
  size: number,
): { resizeH: number; resizeW: number; crop: CropPlan } {
  const short = Math.floor(size / CROP_PCT);
  const [resizeH, resizeW] =
    H <= W ? [short, Math.floor((short * W) / H)] : [Math.floor((short * H) / W), short];
  const top = roundHalfEven((resizeH - size) / 2);
  const left = roundHalfEven((resizeW - size) / 2);
  return { resizeH, resizeW, crop: { top, left, height: size, width: size, flip: false } };
}
