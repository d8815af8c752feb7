import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadSpaceConfig } from "../../src/config/load.js";
import { parseModelConfig } from "../../src/config/validate.js";
import { UsageError } from "../../src/errors.js";
import {
  type Arch,
  CELL_CHOICES,
  cellLayers,
  checkArch,
  formatArch,
  materialize,
  parseArch,
  parseArchFor,
  sampleArch,
  spaceSize,
} from "../../src/space/arch.js";
import { Rng } from "../../src/util/rng.js";
import { ROOT } from "../helpers.js";

const space2d = loadSpaceConfig(`${ROOT}/search-spaces/psvit-2d-tiny.json`);
const space1d = loadSpaceConfig(`${ROOT}/search-spaces/psvit-1d-tiny.json`);

const archArb = fc.array(fc.array(fc.constantFrom(...CELL_CHOICES), { minLength: 1, maxLength: 8 }), {
  minLength: 1,
  maxLength: 5,
});

describe("architecture strings", () => {
  it("format ∘ parse is the identity (property)", () => {
    fc.assert(
      fc.property(archArb, (arch) => {
        const text = formatArch(arch);
        expect(parseArch(text)).toEqual(arch);
        expect(formatArch(parseArch(text))).toBe(text);
      }),
    );
  });
  it("parses SPEC §3's example", () => {
    expect(parseArchFor(space2d, "BSIBBS-SSBIBB-BBISSB")).toEqual([
      ["B", "S", "I", "B", "B", "S"],
      ["S", "S", "B", "I", "B", "B"],
      ["B", "B", "I", "S", "S", "B"],
    ]);
  });
  it("rejects bad letters, empty strings and wrong shapes with clear UsageErrors", () => {
    expect(() => parseArch("BSX")).toThrow(UsageError);
    expect(() => parseArch("BSX")).toThrow('stage 0 cell 2 is "X"');
    expect(() => parseArch("bsi")).toThrow('stage 0 cell 0 is "b"');
    expect(() => parseArch("")).toThrow("architecture string is empty");
    expect(() => parseArch("BB--BB")).not.toThrow(); // syntactically an empty stage; the space check catches it
    expect(() => parseArchFor(space2d, "BBBBBB--BBBBBB")).toThrow("stage 1 has 0 cell(s)");
    expect(() => parseArchFor(space2d, "BSIBBS-SSBIBB")).toThrow(
      'has 2 stage(s) but space "psvit-2d-tiny" has 3',
    );
    expect(() => parseArchFor(space2d, "BSIBB-SSBIBB-BBISSB")).toThrow("stage 0 has 5 cell(s)");
  });
  it("any string either parses or throws a UsageError (property)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (s) => {
        try {
          const a = parseArch(s);
          expect(formatArch(a)).toBe(s.trim());
        } catch (e) {
          expect(e).toBeInstanceOf(UsageError);
        }
      }),
    );
  });
});

describe("materialize", () => {
  it("cells become layers: B → attn, S → attn + reuse, I → nothing", () => {
    expect(cellLayers(["B", "S", "I", "S"])).toEqual(["attn", "attn", "reuse", "attn", "reuse"]);
  });
  it("gives a valid model config with the space's pools and widths (property)", () => {
    const shaped = fc.tuple(
      ...space1d.stages.map((s) =>
        fc.array(fc.constantFrom(...CELL_CHOICES), { minLength: s.cells, maxLength: s.cells }),
      ),
    );
    fc.assert(
      fc.property(shaped, (arch) => {
        for (const space of [space1d, space2d]) {
          const cfg = materialize(space, arch as Arch);
          expect(() => parseModelConfig(cfg)).not.toThrow();
          expect(cfg.kind).toBe("psvit.model");
          expect(cfg.classToken).toBe(space.classToken);
          expect(cfg.stages.map((s) => s.pool)).toEqual(space.stages.map((s) => s.pool));
          expect(cfg.stages.map((s) => s.dim)).toEqual(space.stages.map((s) => s.dim));
          for (const [i, s] of cfg.stages.entries()) expect(s.layers).toEqual(cellLayers((arch as Arch)[i]));
        }
      }),
      { numRuns: 50 },
    );
  });
  it("names the model after the space and architecture, and copies nothing else", () => {
    const cfg = materialize(space2d, parseArch("BSIBBS-SSBIBB-BBISSB"));
    expect(cfg.name).toBe("psvit-2d-tiny-BSIBBS-SSBIBB-BBISSB");
    expect(cfg).not.toHaveProperty("$schema");
    expect(cfg.stages[0]).not.toHaveProperty("cells");
    expect(cfg.preprocess).toEqual(space2d.preprocess);
    expect(() => checkArch(space2d, parseArch("B-B-B"))).toThrow(UsageError);
  });
});

describe("Rng", () => {
  it("is deterministic per seed and resumable from its state", () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const seqA = Array.from({ length: 10 }, () => a.nextU32());
    expect(Array.from({ length: 10 }, () => b.nextU32())).toEqual(seqA);
    const saved = JSON.parse(JSON.stringify(a.state()));
    const next = Array.from({ length: 5 }, () => a.float());
    const resumed = Rng.fromState(saved);
    expect(Array.from({ length: 5 }, () => resumed.float())).toEqual(next);
    expect(new Rng(43).nextU32()).not.toBe(new Rng(42).nextU32());
  });
  it("int(n) is in range and roughly uniform; float in [0,1)", () => {
    const r = new Rng(7);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30000; i++) counts[r.int(3)]++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400);
    for (let i = 0; i < 1000; i++) {
      const f = r.float();
      expect(f >= 0 && f < 1).toBe(true);
    }
    expect(() => r.int(0)).toThrow(RangeError);
  });
  it("shuffle is a permutation", () => {
    const r = new Rng(1);
    const xs = Array.from({ length: 50 }, (_, i) => i);
    expect([...r.shuffle([...xs])].sort((a, b) => a - b)).toEqual(xs);
  });
});

describe("uniform sampling", () => {
  it("each cell is uniform over B/S/I (chi-square, 3 categories × 18 cells)", () => {
    const rng = new Rng(2024);
    const n = 3000;
    const counts = space2d.stages.map((s) => Array.from({ length: s.cells }, () => ({ B: 0, S: 0, I: 0 })));
    for (let k = 0; k < n; k++) {
      for (const [s, stage] of sampleArch(space2d, rng).entries()) {
        for (const [i, c] of stage.entries()) counts[s][i][c]++;
      }
    }
    for (const stage of counts) {
      for (const cell of stage) {
        const chi2 = Object.values(cell).reduce((x, c) => x + (c - n / 3) ** 2 / (n / 3), 0);
        expect(chi2).toBeLessThan(16); // p ≈ 3e-4 at 2 dof; fixed seed, so deterministic
      }
    }
    expect(spaceSize(space2d)).toBe(3n ** 18n);
  });
});
