/**
 * The command tree. Every action imports its command module lazily, so `psvit --help` and the pure
 * commands (flops, space) never load TensorFlow.js.
 */
import { Command, Option } from "commander";
import { UsageError } from "../errors.js";
import { PSVIT_VERSION } from "../version.js";
import type { Io } from "./io.js";

export function buildProgram(io: Io): Command {
  const program = new Command("psvit")
    .description(
      "Neural architecture search for vision transformers (HVT token pooling, PSViT attention sharing):\n" +
        "train a supernet, search it under a FLOPs budget, export and retrain the winner.",
    )
    .version(PSVIT_VERSION)
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
    .option("--sample <n>", "instead: draw n architectures uniformly from those within the budget")
    .option("--flops-range <min:max>", "with --sample: only architectures in this FLOPs range, e.g. 24M:25M")
    .option("--seed <n>", "with --sample: seed of the draw (default 0)")
    .option("--json", "print the statistics (or the sample) as JSON")
    .action(async (file: string, opts) => {
      const { spaceCommand } = await import("./commands/space.js");
      await spaceCommand(file, opts, io);
    });

  const backendOption = () =>
    new Option(
      "--backend <name>",
      "engine: auto | tensorflow | webgpu | wasm | cpu (default $PSVIT_BACKEND or auto)",
    );
  const dataOptions = (cmd: Command) =>
    cmd
      .option("--data <spec>", `data: ${DATA_HELP} (default: the embedded Fashion-MNIST subset)`)
      .option("--data-dir <dir>", "folder for --data fashion-mnist / mnist without :DIR")
      .option(
        "--skip-bad-images",
        "image folders: leave out files that cannot be decoded (counted at the end) instead of stopping at the first",
      );
  const trainOptions = (cmd: Command, recipe = "configs/recipes/fmnist.json") =>
    dataOptions(cmd)
      .option("--config <recipe.json>", `training recipe (default ${recipe})`)
      .option("--epochs <n>", "override the recipe's epochs (a fraction trains part of one epoch)")
      .option("--batch <n>", "override the recipe's batch size")
      .option("--out <dir>", "run directory (checkpoints, metrics, logs)")
      .option("--resume", "continue the run in --out from its last checkpoint")
      .option("--force", "replace the run already in --out")
      .option("--seed <n>", "seed of initialisation, data order, augmentation and sampling (default 0)")
      .option("--eval-images <n>", "validation images evaluated per path each epoch (default all)")
      .addOption(
        new Option("--stop-after <steps>", "stop as if interrupted after this many steps").hideHelp(),
      )
      .addOption(backendOption());

  trainOptions(
    program
      .command("train-supernet")
      .description("train a space's weight-sharing supernet by single-path one-shot uniform sampling")
      .option("--space <space.json>", "search space (default search-spaces/fmnist-2d.json)")
      .option("--flops-range <min:max>", "only sample paths in this FLOPs range, e.g. 10M:40M")
      .addOption(
        new Option(
          "--sampling <how>",
          "uniform: each step's path uniform over the range (SPOS, default); fair: the least-trained choices of 8 uniform draws (FairNAS-style); sandwich: the range's largest path on the labels, its smallest and 2 uniform draws distilling the largest's predictions (BigNAS; ≈ 4× the cost of a step)",
        ).choices(["uniform", "fair", "sandwich"]),
      ),
    "configs/recipes/fmnist-supernet.json",
  ).action(async (opts) => {
    const { trainSupernetCommand } = await import("./commands/train.js");
    await trainSupernetCommand(opts, io);
  });

  trainOptions(
    program
      .command("train")
      .description("train a model config from scratch (e.g. an exported architecture)")
      .argument("<model>", "a psvit.model JSON file")
      .option(
        "--queue <url>",
        "train on a psvit worker through a BullMQ queue at redis://HOST:PORT[/DB] (default $PSVIT_QUEUE); the run's files come back into --out",
      )
      .option(
        "--artifacts <dir>",
        "with --queue: the folder driver and workers share, where the splits are published (default $PSVIT_ARTIFACTS)",
      ),
  ).action(async (file: string, opts) => {
    const { trainModelCommand } = await import("./commands/train.js");
    await trainModelCommand(file, opts, io);
  });

  dataOptions(
    program
      .command("eval")
      .description("top-1, top-5 and loss of a trained model on its data's validation or test split")
      .argument("<model>", "a psvit.model JSON file")
      .requiredOption("--weights <file>", "safetensors weights of the model")
      .addOption(new Option("--split <split>", "val or test").choices(["val", "test"]).default("val"))
      .option("--seed <n>", "seed of the validation carve-out (as in training)", "0")
      .option("--batch <n>", "images per forward pass", "256")
      .option("--limit <n>", "only the first n images")
      .option("--json", "print {top1, top5, loss, n} as JSON")
      .addOption(backendOption()),
  ).action(async (file: string, opts) => {
    const { evalCommand } = await import("./commands/eval.js");
    await evalCommand(file, opts, io);
  });

  program
    .command("predict")
    .description("top-1 class of every image with a trained model")
    .argument("<model>", "a psvit.model JSON file")
    .requiredOption("--weights <file>", "safetensors weights (the config in the file must match)")
    .requiredOption("--images <path>", "an IDX image file (raw or .gz) or a folder of PNG/JPEG images")
    .option("--limit <n>", "only the first n images")
    .option("--batch-size <n>", "images per forward pass", "64")
    .option("--json", 'one {"index", "top1", "logits"} object per line')
    .addOption(backendOption())
    .action(async (file: string, opts) => {
      const { predictCommand } = await import("./commands/predict.js");
      await predictCommand(file, opts, io);
    });

  program
    .command("search")
    .description("evolutionary search of a trained supernet under a FLOPs (and params) budget")
    .requiredOption("--run <dir>", "a train-supernet run directory")
    .option("--flops <budget>", "FLOPs budget, e.g. 25M, 1.3G, 5e8")
    .option("--params <budget>", "params budget, e.g. 1.5M")
    .addOption(
      new Option(
        "--strategy <s>",
        "evolution (SPOS) | aging (regularized evolution, steady state) | random (the baseline)",
      ).choices(["evolution", "aging", "random"]),
    )
    .option("--population <n>", "candidates per generation (default 50)")
    .option("--generations <n>", "generations (default 20)")
    .option("--parents <n>", "top candidates kept as parents; aging: the tournament size (default 10)")
    .option("--mutations <n>", "children by mutation per generation (default 25)")
    .option("--mutation-prob <p>", "probability that a cell mutates (default 0.1)")
    .option("--crossovers <n>", "children by crossover per generation (default 25)")
    .option("--val-images <n>", "validation images every candidate is scored on (default all)")
    .option(
      "--rescore-top <k>",
      "at the end, re-score the top k on every validation image and pick the winner by that (0: off; default 10)",
    )
    .option(
      "--workers <n>",
      "worker threads evaluating candidates (0: this thread; default: one per core, at most 2)",
    )
    .option("--seed <n>", "seed of the search (default 0)")
    .option(
      "--queue <url>",
      "evaluate candidates through a BullMQ queue at redis://HOST:PORT[/DB] (default $PSVIT_QUEUE), by psvit worker processes on any machine",
    )
    .option(
      "--artifacts <dir>",
      "with --queue: the folder driver and workers share, where the checkpoint and images are published (default $PSVIT_ARTIFACTS)",
    )
    .option("--resume", "continue the search in --run from its last generation")
    .option("--force", "replace a previous search of the same strategy")
    .option("--json", "print the result as JSON")
    .addOption(backendOption())
    .action(async (opts) => {
      const { searchCommand } = await import("./commands/search.js");
      await searchCommand(opts, io);
    });

  program
    .command("worker")
    .description(
      "run the jobs that search, rank-corr and train send with --queue: candidates to score, subnets and models to train (on any machine that reaches the Redis and sees --artifacts; docs/SCALE.md)",
    )
    .option("--queue <url>", "redis://HOST:PORT[/DB] (default $PSVIT_QUEUE)")
    .option("--artifacts <dir>", "the folder the drivers publish job inputs to (default $PSVIT_ARTIFACTS)")
    .option(
      "--concurrency <n>",
      "jobs at once, each on its own thread with one wasm thread: the machine's cores (default 1)",
    )
    .addOption(new Option("--lock-ms <ms>", "BullMQ lock duration and stalled-job interval").hideHelp())
    .action(async (opts) => {
      const { workerCommand } = await import("./commands/worker.js");
      await workerCommand(opts, io);
    });

  program
    .command("rank-corr")
    .description(
      "train sampled subnets from scratch and rank-correlate their accuracy with the supernet's inherited one",
    )
    .requiredOption("--run <dir>", "a train-supernet run directory")
    .option("--samples <n>", "subnets to train, one per FLOPs stratum (default 12)")
    .option(
      "--epochs <n>",
      "epochs of each from-scratch training (may be fractional, e.g. 0.25; default: the run's recipe's)",
    )
    .option("--flops <budget>", "only subnets under this FLOPs budget (default the whole space)")
    .addOption(
      new Option(
        "--sampling <how>",
        "strata: one subnet per FLOPs stratum (default); band: all within ±5% of --flops",
      ).choices(["strata", "band"]),
    )
    .option(
      "--scratch-seeds <n>",
      "from-scratch trainings per subnet (default 2: the τ between seeds is the ceiling the supernet is measured against)",
    )
    .option("--val-images <n>", "validation images both accuracies are measured on (default all)")
    .option("--seed <n>", "seed of the subnet draw and the validation subset (default 0)")
    .option(
      "--name <folder>",
      "the study's folder in the run directory (default rank-corr): several studies of one supernet",
    )
    .option(
      "--scratch-from <study>",
      "reuse a finished study's subnets and from-scratch accuracies (e.g. RUN/rank-corr of another supernet of the same space and data): trains nothing",
    )
    .option(
      "--queue <url>",
      "train the subnets on psvit workers through a BullMQ queue at redis://HOST:PORT[/DB] (default $PSVIT_QUEUE)",
    )
    .option(
      "--artifacts <dir>",
      "with --queue: the folder driver and workers share (default $PSVIT_ARTIFACTS)",
    )
    .option("--resume", "continue the study in --run without retraining finished subnets")
    .option("--force", "replace a previous study")
    .option("--json", "print the result (tau, rho, n, pairs) as JSON")
    .addOption(backendOption())
    .action(async (opts) => {
      const { rankCorrCommand } = await import("./commands/rank-corr.js");
      await rankCorrCommand(opts, io);
    });

  program
    .command("export")
    .description(
      "write a searched architecture as an HVT config + inherited weights (or a config from --space/--arch)",
    )
    .option("--run <dir>", "a train-supernet run with a search")
    .option(
      "--rank <n>",
      "which candidate: 1 is the best (default 1; the search's final stage ranks its top k first)",
    )
    .addOption(
      new Option("--strategy <s>", "which search of the run").choices(["evolution", "aging", "random"]),
    )
    .option("--space <space.json>", "export a config alone: the space…")
    .option("--arch <string>", "…and the architecture string")
    .option("--out <dir>", "output folder (default DIR/export, or . with --space)")
    .option("--name <name>", "file and model name (default <space>-<architecture>)")
    .addOption(
      new Option(
        "--format <f>",
        "psvit: config + weights (default); onnx: also NAME.onnx; web: also NAME-web/, a page that runs it in a browser",
      ).choices(["psvit", "onnx", "web"]),
    )
    .option("--force", "replace existing files")
    .option("--json", "print what was written as JSON")
    .addOption(backendOption())
    .action(async (opts) => {
      const { exportCommand } = await import("./commands/export.js");
      await exportCommand(opts, io);
    });

  program
    .command("convert")
    .description("write a trained model as one ONNX file (preprocessing included) or a web page that runs it")
    .argument("<model.json>", "the psvit.model config")
    .requiredOption("--weights <file>", "its weights (.safetensors)")
    .addOption(new Option("--to <format>", "onnx or web").choices(["onnx", "web"]).makeOptionMandatory())
    .option(
      "--out <path>",
      "output file (onnx) or folder (web); default beside the config: NAME.onnx / NAME-web",
    )
    .option(
      "--labels <names>",
      "class names, comma-separated or a file with one per line (default: the training run's)",
    )
    .option("--force", "replace an existing output")
    .option("--json", "print what was written as JSON")
    .action(async (file: string, opts) => {
      const { convertCommand } = await import("./commands/convert.js");
      await convertCommand(file, opts, io);
    });

  program
    .command("serve")
    .description("serve a web export (psvit export --format web) on localhost; open the URL it prints")
    .argument("<folder>", "the folder")
    .option("--port <n>", "port (default 8080; 0: any free one)", "8080")
    .option("--host <host>", "address to listen on (default 127.0.0.1)", "127.0.0.1")
    .action(async (folder: string, opts) => {
      const { serveCommand } = await import("./commands/convert.js");
      await serveCommand(folder, opts, io);
    });

  dataOptions(
    program
      .command("pipeline")
      .description(
        "the whole job: train-supernet, search under a budget, export (embedded data: about 8 min on 2 cores)",
      )
      .option("--out <dir>", "run directory (default runs/pipeline)")
      .option("--flops <budget>", "FLOPs budget of the search (default 25M)")
      .option("--space <space.json>", "search space (default search-spaces/fmnist-2d.json)")
      .option("--config <recipe.json>", "supernet recipe (default configs/recipes/fmnist-supernet.json)")
      .option("--epochs <n>", "supernet epochs (default: the recipe's)")
      .option(
        "--flops-range <min:max>",
        "FLOPs range of the paths the supernet trains (default :BUDGET, the paths the search can pick; ':' the whole space)",
      )
      .addOption(
        new Option(
          "--sampling <how>",
          "how the supernet draws its step paths: uniform (SPOS, default), fair (FairNAS-style) or sandwich (BigNAS's sandwich rule with in-place distillation)",
        ).choices(["uniform", "fair", "sandwich"]),
      )
      .option("--population <n>", "search population (default 16)")
      .option("--generations <n>", "search generations (default 6)")
      .option("--val-images <n>", "validation images per candidate (default all)")
      .option("--workers <n>", "search worker threads (default 2)")
      .option("--seed <n>", "seed (default 0)")
      .option("--force", "start over in a directory that holds a previous pipeline run")
      .addOption(backendOption()),
  ).action(async (opts) => {
    const { pipelineCommand } = await import("./commands/pipeline.js");
    await pipelineCommand(opts, io);
  });

  program
    .command("bench")
    .description("training-step and forward images/s, and peak memory, of a model (or space + --arch)")
    .argument("<config>", "a psvit.model or psvit.space JSON file")
    .option("--arch <string>", "architecture string when <config> is a space")
    .option("--batch <n>", "batch size", "64")
    .option("--steps <n>", "measured steps")
    .option("--warmup <n>", "unmeasured warm-up steps")
    .option("--threads <n>", "wasm threads (default $PSVIT_WASM_THREADS or 1)")
    .option("--json", 'last line of stdout: {"backend", "train_img_s", "fwd_img_s", "peak_rss_mb"}')
    .option(
      "--latency",
      "instead: batch-1 latency of the deployed model on psvit, onnxruntime-node and onnxruntime-web (wasm)",
    )
    .option(
      "--weights <file>",
      "with --latency: the model's weights (default: fresh; latency does not depend on them)",
    )
    .option("--runs <n>", "with --latency: timed calls per runtime (default 100)")
    .addOption(backendOption())
    .action(async (file: string, opts) => {
      const { benchCommand } = await import("./commands/bench.js");
      await benchCommand(file, opts, io);
    });

  dataOptions(
    program
      .command("data")
      .description("what a --data spec resolves to: sources, splits, classes, fitting, mean/std")
      .option("--image-size <n>", "model input size the images are fitted to")
      .option("--channels <n>", "model input channels (1 or 3)")
      .option("--val-fraction <f>", "validation fraction carved from the training set")
      .option("--val-size <n>", "validation images carved from the training set")
      .option("--seed <n>", "seed of the validation carve-out", "0")
      .option("--json", "print the description as JSON"),
  ).action(async (opts) => {
    const { dataCommand } = await import("./commands/data.js");
    await dataCommand(numericDataOptions(opts), io);
  });

  return program;
}

const DATA_HELP =
  "embedded, fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, cifar100:DIR, cifar100-coarse:DIR, folder:DIR, idx:IMAGES[,LABELS]";

function numericDataOptions(opts: Record<string, string | boolean | undefined>) {
  const num = (flag: string, v: unknown, integer: boolean) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw new UsageError(
        `${flag}: expected ${integer ? "an integer" : "a number"}, got ${JSON.stringify(v)}`,
      );
    }
    return n;
  };
  return {
    data: opts.data as string | undefined,
    dataDir: opts.dataDir as string | undefined,
    skipBadImages: Boolean(opts.skipBadImages),
    imageSize: num("--image-size", opts.imageSize, true),
    channels: num("--channels", opts.channels, true),
    valFraction: num("--val-fraction", opts.valFraction, false),
    valSize: num("--val-size", opts.valSize, true),
    seed: num("--seed", opts.seed, true),
    json: Boolean(opts.json),
  };
}
