/** The data layer's public API (see docs/DATA.md). */
export { augmentBatch, augmentOptions, type DataKind, defaultAugment, NO_AUGMENT } from "./augment.js";
export {
  type Batch,
  BatchStream,
  type BatchStreamOptions,
  type BatchStreamState,
  evalBatches,
  type StreamTiming,
} from "./batch.js";
export { CIFAR10_CLASSES, type CifarKind, parseCifar, readCifarDir } from "./cifar.js";
export {
  buildEmbedded,
  embeddedDir,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_SYSTEM_DIR,
  readEmbedded,
} from "./embedded.js";
export { describeFit, type FitTarget, fitDataset, fitImages } from "./fit.js";
export { decodeImage, decodeImageFile, readClassFolder, readImageFolder } from "./folder.js";
export { encodeIdx, parseIdx, readIdxImages, readIdxLabels, readIdxPair } from "./idx.js";
export { loadImagesForModel, type ModelImage } from "./predict.js";
export { DATA_FORMS, type DataInfo, type ResolvedData, type ResolveOptions, resolveData } from "./resolve.js";
export { classCounts, splitTrainVal, subset } from "./split.js";
export { computeStats, identityPreprocess, normalize } from "./stats.js";
export type { AugmentOptions, Dataset, LabelArray, Preprocess } from "./types.js";
