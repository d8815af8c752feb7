/** Optional packages (tfjs-node(-gpu), webgpu): why one could not be imported, in words for the log. */

/** The first line of an error's message. */
export function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

/** Is `e` "this package is not installed" (as opposed to "installed but broken")? */
export function isNotFound(e: unknown, specifier: string): boolean {
  const code = (e as { code?: string } | undefined)?.code;
  // the package itself ('name' quoted), not a file inside it (a native part not built: "does not load")
  return (
    (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
    errorText(e).includes(`'${specifier}'`)
  );
}

/** `not installed`, or `does not load (<first line of the error>)`. */
export function importFailure(e: unknown, specifier: string): string {
  return isNotFound(e, specifier) ? "not installed" : `does not load (${errorText(e)})`;
}
