/**
 * JSON Schema (draft 2020-12) for the config formats, generated from the zod schemas so editors can
 * check configs as they are typed. `npm run schemas` writes them to schemas/; a test checks the files
 * are current. The schemas check structure only; cross-field rules (dim % heads, pools, token counts)
 * are psvit's own (`psvit flops FILE` reports them).
 */
import { z } from "zod";
import { RecipeSchema } from "./recipe.js";
import { ModelConfigSchema, SpaceConfigSchema } from "./schema.js";

export const SCHEMA_FILES = {
  "psvit.model.v1.schema.json": ModelConfigSchema,
  "psvit.space.v1.schema.json": SpaceConfigSchema,
  "psvit.recipe.v1.schema.json": RecipeSchema,
} as const;

export function jsonSchemas(): Record<string, object> {
  const out: Record<string, object> = {};
  for (const [file, schema] of Object.entries(SCHEMA_FILES)) {
    out[file] = {
      ...z.toJSONSchema(schema, { io: "input", target: "draft-2020-12" }),
      $id: `https://psvit.dev/schemas/${file}`,
      title: file.replace(".schema.json", ""),
    };
  }
  return out;
}

/** The exact text written to schemas/<file>. */
export function schemaText(schema: object): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
