/**
 * Learning-rate schedule: linear warm-up from `warmupStartLr` to `lr` over the warm-up steps, then cosine
 * decay to `minLr` at the last step (timm's CosineLRScheduler, stepped per iteration). Pure.
 */
export interface CosineSchedule {
  lr: number;
  minLr: number;
  warmupStartLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/** Learning rate for 0-based `step` (the step about to be taken). */
export function lrAt(s: CosineSchedule, step: number): number {
  if (step < s.warmupSteps) return s.warmupStartLr + ((s.lr - s.warmupStartLr) * step) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps - 1);
  const t = Math.min(1, (step - s.warmupSteps) / span);
  return s.minLr + 0.5 * (s.lr - s.minLr) * (1 + Math.cos(Math.PI * t));
}
