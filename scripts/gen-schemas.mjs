// Writes schemas/*.schema.json from the zod schemas (run after `npm run build`: `npm run schemas`).
import { writeFileSync } from "node:fs";
import { jsonSchemas, schemaText } from "../dist/config/jsonschema.js";

for (const [file, schema] of Object.entries(jsonSchemas())) {
  const path = new URL(`../schemas/${file}`, import.meta.url);
  writeFileSync(path, schemaText(schema));
  console.log(`wrote schemas/${file}`);
}
