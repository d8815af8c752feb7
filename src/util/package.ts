/** Files shipped with psvit (search spaces, configs, recipes, the embedded data) and the defaults among them. */
import { fileURLToPath } from "node:url";

/** The psvit package folder (holds search-spaces/, configs/, data/). */
export const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export function packagePath(rel: string): string {
  return `${PACKAGE_ROOT}${rel}`;
}

export const DEFAULT_SPACE = "search-spaces/fmnist-2d.json";
export const DEFAULT_RECIPE = "configs/recipes/fmnist.json";
/** train-supernet's (and the pipeline's) default: the same recipe with the supernet's epochs. */
export const DEFAULT_SUPERNET_RECIPE = "configs/recipes/fmnist-supernet.json";
