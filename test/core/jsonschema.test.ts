import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { jsonSchemas, schemaText } from "../../src/config/jsonschema.js";
import { ROOT } from "../helpers.js";

describe("JSON Schema files", () => {
  it("schemas/ matches the zod schemas (run `npm run build && npm run schemas` if this fails)", () => {
    for (const [file, schema] of Object.entries(jsonSchemas())) {
      expect(readFileSync(`${ROOT}/schemas/${file}`, "utf8")).toBe(schemaText(schema));
    }
  });
  it("describes the formats: kinds, layers, pool types, no unknown fields", () => {
    const s = jsonSchemas()["psvit.model.v1.schema.json"] as any;
    expect(s.properties.kind.const).toBe("psvit.model");
    expect(s.additionalProperties).toBe(false);
    expect(s.properties.stages.items.properties.layers.items.enum).toEqual(["attn", "reuse"]);
    const pools =
      s.properties.stages.items.properties.pool.oneOf ?? s.properties.stages.items.properties.pool.anyOf;
    expect(pools.map((p: any) => p.properties.type.const).sort()).toEqual([
      "conv2d",
      "linear-max1d",
      "max1d",
    ]);
  });
});
