/**
 * The command tree. Every action imports its command module lazily, so `psvit --help` and the pure
 * commands (flops, space) never load TensorFlow.js.
 */
import { Command, Option } from "commander";
import type { Io } from "./io.js";

export const VERSION = "0.1.0";

export function buildProgram(io: Io): Command {
  const program = new Command("psvit")
    .description(
      "Neural architecture search for vision transformers: HVT token pooling and PSViT attention sharing,\n" +
        "a single-path one-shot supernet, and evolutionary search under a FLOPs budget.",
    )
    .version(VERSION)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      outputError: (s, write) => write(`psvit: ${s.replace(/^error: /, "")}`),
    })
    .showSuggestionAfterError(true)
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  psvit flops configs/hvt-s-2.json\n" +
        "  psvit flops search-spaces/psvit-2d-tiny.json --arch BSIBBS-SSBIBB-BBISSB\n" +
        "  psvit space search-spaces/fmnist-2d.json --budget 25M\n",
    );

  program
    .command("flops")
    .description("count FLOPs (multiply-accumulates) and params of a model config, or of a space + --arch")
    .argument("<config>", "a psvit.model or psvit.space JSON file")
    .option("--arch <string>", "architecture string when <config> is a space, e.g. BSIBBS-SSBIBB-BBISSB")
    .option("--json", "print {flops, params, stages: [...]} as JSON")
    .action(async (file: string, opts) => {
      const { flopsCommand } = await import("./commands/flops.js");
      await flopsCommand(file, opts, io);
    });

  program
    .command("space")
    .description("size and FLOPs distribution of a search space, and how much of it a budget keeps")
    .argument("<space>", "a psvit.space JSON file")
    .option("--budget <flops>", "FLOPs budget, e.g. 25M, 1.3G, 5e8, 1.3GFLOPs")
    .option("--params <count>", "params budget, e.g. 1.5M")
    .addOption(new Option("--bins <n>", "histogram bins").default("20"))
    .option("--json", "print the statistics as JSON")
    .action(async (file: string, opts) => {
      const { spaceCommand } = await import("./commands/space.js");
      await spaceCommand(file, opts, io);
    });

  return program;
}
