/** Adapters that let the training loop drive a supernet or a fixed model. */
import type * as tf from "@tensorflow/tfjs";
import type { ModelConfig, SpaceConfig } from "../config/schema.js";
import type { HvtModel } from "../model/hvt.js";
import type { Supernet } from "../model/supernet.js";
import type { Arch } from "../space/arch.js";
import type { Trainable } from "./loop.js";

export function supernetTarget(net: Supernet, space: SpaceConfig): Trainable {
  return {
    kind: "supernet",
    config: space,
    forward: (x: tf.Tensor4D, arch: Arch | null) => {
      if (!arch) throw new Error("supernet forward: an architecture is required");
      return net.forward(x, arch);
    },
    trainableVariables: (arch) => {
      if (!arch) throw new Error("supernet: an architecture is required");
      return net.pathVariables(arch);
    },
    allVariables: () => net.allVariables(),
  };
}

export function modelTarget(model: HvtModel, config: ModelConfig): Trainable {
  return {
    kind: "model",
    config,
    forward: (x) => model.forward(x),
    trainableVariables: () => model.variables(),
    allVariables: () => model.variables(),
  };
}
