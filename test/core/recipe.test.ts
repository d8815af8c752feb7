import { describe, expect, it } from "vitest";
import { loadRecipe, parseRecipe } from "../../src/config/recipe.js";
import { ConfigError } from "../../src/errors.js";
import { lrAt } from "../../src/train/schedule.js";
import { ROOT, readJson, variant } from "../helpers.js";

const base = readJson("configs/recipes/fmnist.json");

describe("recipe", () => {
  it("the shipped recipe is valid and fills defaults", () => {
    const r = loadRecipe(`${ROOT}/configs/recipes/fmnist.json`);
    expect(r.optimizer.type).toBe("adamw");
    for (const name of ["fmnist-supernet", "fmnist-augment"])
      loadRecipe(`${ROOT}/configs/recipes/${name}.json`);
    const minimal = parseRecipe(
      variant(base, (c) => {
        delete c.checkpoint;
        delete c.labelSmoothing;
        delete c.augment;
      }),
    );
    expect(minimal.augment).toEqual({});
    expect(minimal.checkpoint).toEqual({ everySteps: null, keep: 3 });
    expect(minimal.labelSmoothing).toBe(0.1);
  });
  it("errors name the path", () => {
    const bad = (edit: (c: any) => void, msg: string | RegExp) => {
      expect(() => parseRecipe(variant(base, edit), "r.json")).toThrow(ConfigError);
      expect(() => parseRecipe(variant(base, edit), "r.json")).toThrow(msg);
    };
    bad((c) => (c.optimizer.type = "sgd"), 'r.json: optimizer.type: must be "adamw"');
    bad((c) => (c.epochs = 0), /^r\.json: epochs: /);
    bad((c) => (c.optimizer.betas = [0.9, 1.5]), /optimizer\.betas\[1\]: /);
    bad((c) => (c.labelSmoothing = 1), /labelSmoothing: /);
    bad((c) => (c.augment = { rotate: 10 }), 'augment: unknown field "rotate"');
    bad((c) => {
      c.optimizer.lr = 0.001;
      c.schedule.minLr = 1;
    }, "schedule.minLr: minLr 1 is above optimizer.lr 0.001");
  });
});

describe("cosine schedule with warm-up", () => {
  const s = { lr: 1e-3, minLr: 1e-5, warmupStartLr: 1e-6, warmupSteps: 10, totalSteps: 110 };
  it("warms up linearly, peaks, decays by cosine to minLr at the last step", () => {
    expect(lrAt(s, 0)).toBeCloseTo(1e-6, 12);
    expect(lrAt(s, 5)).toBeCloseTo(1e-6 + (1e-3 - 1e-6) / 2, 12);
    expect(lrAt(s, 10)).toBeCloseTo(1e-3, 12);
    expect(lrAt(s, 109)).toBeCloseTo(1e-5, 12);
    // half-way through the decay: the mean of peak and floor
    expect(lrAt(s, 10 + 49.5)).toBeCloseTo((1e-3 + 1e-5) / 2, 12);
    for (let t = 11; t < 110; t++) expect(lrAt(s, t)).toBeLessThanOrEqual(lrAt(s, t - 1));
    for (let t = 1; t <= 10; t++) expect(lrAt(s, t)).toBeGreaterThan(lrAt(s, t - 1));
  });
  it("no warm-up and a single step are fine", () => {
    expect(lrAt({ ...s, warmupSteps: 0, totalSteps: 1 }, 0)).toBeCloseTo(1e-3, 12);
    expect(lrAt({ ...s, warmupSteps: 0 }, 0)).toBeCloseTo(1e-3, 12);
  });
});
