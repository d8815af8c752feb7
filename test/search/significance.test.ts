import { describe, expect, it } from "vitest";
import type { Evaluated } from "../../src/search/evolution.js";
import { finalStage } from "../../src/search/rescore.js";
import { accuracySe, binomialTwoSided, mcnemar } from "../../src/search/significance.js";

describe("standard error of an accuracy", () => {
  it("is √(p(1 − p)/n): 64% on 500 images is 2.1 points (the issue's example)", () => {
    expect(accuracySe(0.64, 500)).toBeCloseTo(Math.sqrt((0.64 * 0.36) / 500), 12);
    expect(accuracySe(0.64, 500)).toBeCloseTo(0.02147, 5);
    expect(accuracySe(0.8335, 2000)).toBeCloseTo(0.00833, 5);
    expect(accuracySe(1, 100)).toBe(0);
    expect(accuracySe(0.5, 0)).toBe(0);
  });
});

describe("McNemar's paired test", () => {
  it("exact two-sided binomial p-values at ½ (worked by hand)", () => {
    // 2·P(X ≤ 2), X ~ Bin(12, ½) = 2·(1 + 12 + 66)/4096
    expect(binomialTwoSided(2, 12)).toBeCloseTo(158 / 4096, 12);
    expect(binomialTwoSided(10, 12)).toBeCloseTo(158 / 4096, 12); // symmetric
    expect(binomialTwoSided(0, 5)).toBeCloseTo(2 / 32, 12);
    expect(binomialTwoSided(5, 10)).toBe(1); // the middle: capped at 1
    expect(binomialTwoSided(0, 0)).toBe(1); // no discordant image: no evidence
    // large n stays finite and in (0, 1): 60 of 100 → p ≈ 0.0569 (two-sided exact)
    expect(binomialTwoSided(60, 100)).toBeCloseTo(0.05689, 4);
  });
  it("counts the discordant images; the χ² with continuity correction of the textbook table", () => {
    // the 2×2 table a = 101 (both right), b = 121, c = 59, d = 33 (both wrong)
    const a: number[] = [];
    const b: number[] = [];
    const push = (x: number, y: number, n: number) => {
      for (let i = 0; i < n; i++) {
        a.push(x);
        b.push(y);
      }
    };
    push(1, 1, 101);
    push(1, 0, 121);
    push(0, 1, 59);
    push(0, 0, 33);
    const m = mcnemar(a, b);
    expect([m.aOnly, m.bOnly]).toEqual([121, 59]);
    expect(m.chi2).toBeCloseTo(61 ** 2 / 180, 12); // 20.67
    expect(m.p).toBeLessThan(1e-5);
    expect(() => mcnemar([1, 0], [1])).toThrow(
      "mcnemar: expected two results on the same images, got 2 and 1",
    );
  });
});

describe("the final stage: top k re-scored on one set of images", () => {
  const cand = (arch: string, accuracy: number, flops = 1e6): Evaluated => ({
    arch,
    accuracy,
    flops,
    params: 1,
    generation: 0,
  });
  it("ranks by the re-scored accuracy, not the search's, and flags a tie with the runner-up", () => {
    // 20 images; the search thought A best, but on the whole split B gets 16, A 15, C 10
    const rows: Record<string, number[]> = {
      A: [...Array(15).fill(1), ...Array(5).fill(0)],
      B: [...Array(14).fill(1), 0, 1, 1, 0, 0, 0],
      C: [...Array(10).fill(1), ...Array(10).fill(0)],
    };
    const f = finalStage([cand("A", 0.9), cand("B", 0.85), cand("C", 0.8)], (a) => rows[a]);
    expect(f.ranking.map((r) => r.arch)).toEqual(["B", "A", "C"]);
    expect(f.ranking[0]).toMatchObject({ accuracy: 0.8, searchAccuracy: 0.85 });
    expect(f.ranking[0].se).toBeCloseTo(Math.sqrt((0.8 * 0.2) / 20), 12);
    expect(f.images).toBe(20);
    // B right where A is wrong: images 16, 17 (2); A right where B is wrong: image 15 (1) → p = 1
    expect(f.test).toEqual({ runnerUp: "A", aOnly: 2, bOnly: 1, p: 1 });
    expect(f.tied).toBe(true);
  });
  it("a clear winner is not a tie", () => {
    const n = 400;
    const good = Array.from({ length: n }, (_, i) => (i < 360 ? 1 : 0));
    const bad = Array.from({ length: n }, (_, i) => (i < 300 ? 1 : 0));
    const f = finalStage([cand("X", 0.7), cand("Y", 0.75)], (a) => (a === "X" ? good : bad));
    expect(f.ranking[0].arch).toBe("X");
    expect(f.test).toMatchObject({ runnerUp: "Y", aOnly: 60, bOnly: 0 });
    expect(f.test!.p).toBeLessThan(1e-10);
    expect(f.tied).toBe(false);
  });
  it("on the search's own images: its accuracies stand, only the winner and runner-up are run again", () => {
    const calls: string[] = [];
    const rows: Record<string, number[]> = { A: [1, 1, 1, 0], B: [1, 1, 0, 0], C: [1, 0, 0, 0] };
    const f = finalStage(
      [cand("C", 0.25), cand("A", 0.75), cand("B", 0.5)],
      (a) => {
        calls.push(a);
        return rows[a];
      },
      0.05,
      4,
    );
    expect(f.ranking.map((r) => [r.arch, r.accuracy])).toEqual([
      ["A", 0.75],
      ["B", 0.5],
      ["C", 0.25],
    ]);
    expect(calls.sort()).toEqual(["A", "B"]);
    expect(f).toMatchObject({ images: 4, test: { runnerUp: "B", aOnly: 1, bOnly: 0, p: 1 } });
    expect(f.ranking[0].se).toBeCloseTo(Math.sqrt((0.75 * 0.25) / 4), 12);
  });
  it("one candidate: no test, no tie", () => {
    const f = finalStage([cand("X", 0.7)], () => [1, 0]);
    expect(f).toMatchObject({ k: 1, images: 2, test: null, tied: false });
  });
});
