/** Typed errors of the cortex layer (inference). Each carries a stable `code`. */
import { ZeoneError } from '../util/errors.js'

/** A model file (safetensors, config.json, tokenizer.json) is malformed, unsupported or incomplete. */
export class ModelFormatError extends ZeoneError {
  override readonly name = 'ModelFormatError'
}

/** A tensor received from the network or a file failed validation (shape, size, dtype, non-finite values). */
export class TensorError extends ZeoneError {
  override readonly name = 'TensorError'
}

/** An inference session failed: unknown session, stage mismatch, capacity exhausted, engine error. */
export class InferenceError extends ZeoneError {
  override readonly name = 'InferenceError'
}

/** No chain of stages covering every layer of the model could be assembled. */
export class NoRouteError extends ZeoneError {
  override readonly name = 'NoRouteError'
}
