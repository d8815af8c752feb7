/**
 * Width, height and EXIF orientation from a JPEG's or PNG's header bytes, in JavaScript: the decoder
 * needs the oriented size to plan its crop before it builds the libvips pipeline, and asking sharp
 * for it (`metadata()`) costs a round trip to libuv's pool per image, ≈ 10% of a decode
 * (bench/folder-throughput.mjs). Anything this does not recognise (WebP, a PNG with an eXIf chunk, an
 * unusual JPEG) returns null, and the decoder asks sharp. Pure: bytes in, numbers out.
 */

const u16be = (b: Uint8Array, i: number) => (b[i] << 8) | b[i + 1];
const u32be = (b: Uint8Array, i: number) =>
  ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;

/** EXIF orientation (1–8) from an APP1 payload starting at `i` ("Exif\0\0" + TIFF), or 1. */
function exifOrientation(b: Uint8Array, i: number, end: number): number {
  if (end - i < 14 || b[i] !== 0x45 || b[i + 1] !== 0x78 || b[i + 2] !== 0x69 || b[i + 3] !== 0x66) return 1;
  const t = i + 6; // TIFF header
  const le = b[t] === 0x49 && b[t + 1] === 0x49;
  if (!le && !(b[t] === 0x4d && b[t + 1] === 0x4d)) return 1;
  const r16 = (k: number) => (le ? b[k] | (b[k + 1] << 8) : u16be(b, k));
  const r32 = (k: number) =>
    le ? (b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)) >>> 0 : u32be(b, k);
  const ifd = t + r32(t + 4);
  if (ifd + 2 > end) return 1;
  const count = r16(ifd);
  for (let e = 0; e < count; e++) {
    const at = ifd + 2 + 12 * e;
    if (at + 12 > end) return 1;
    if (r16(at) === 0x0112) {
      const v = r16(at + 8);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

/** A JPEG's stored size and EXIF orientation (1–8), or null when its header is not plain. */
export function jpegHeader(b: Uint8Array): { width: number; height: number; orientation: number } | null {
  let i = 2;
  let orientation = 1;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return null;
    const m = b[i + 1];
    if (m === 0xff) {
      i++; // fill byte
      continue;
    }
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      i += 2;
      continue;
    }
    const len = u16be(b, i + 2);
    if (len < 2) return null;
    if (m === 0xe1)
      orientation = Math.max(orientation, exifOrientation(b, i + 4, Math.min(b.length, i + 2 + len)));
    const sof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (sof) {
      if (i + 9 > b.length) return null;
      const height = u16be(b, i + 5);
      const width = u16be(b, i + 7);
      return width > 0 && height > 0 ? { width, height, orientation } : null;
    }
    if (m === 0xda) return null; // scan data before a frame header: not a JPEG we understand
    i += 2 + len;
  }
  return null;
}

function png(b: Uint8Array): { width: number; height: number; orientation: number } | null {
  if (b.length < 33 || u32be(b, 12) !== 0x49484452) return null; // IHDR
  // an eXIf chunk may carry an orientation: leave such files to sharp
  for (let i = 8; i + 8 <= b.length; ) {
    const len = u32be(b, i);
    const type = u32be(b, i + 4);
    if (type === 0x65584966) return null; // eXIf
    if (type === 0x49444154) break; // IDAT: eXIf must come before it
    i += 12 + len;
  }
  return { width: u32be(b, 16), height: u32be(b, 20), orientation: 1 };
}

/** The size an image has once its EXIF orientation is applied, or null when the header is not plain. */
export function orientedSizeFromHeader(
  b: Uint8Array,
  format: string,
): { height: number; width: number } | null {
  const h = format === "jpeg" ? jpegHeader(b) : format === "png" ? png(b) : null;
  if (!h) return null;
  return h.orientation >= 5 ? { height: h.width, width: h.height } : { height: h.height, width: h.width };
}
