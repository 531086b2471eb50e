/**
 * The inference runtime (onnxruntime-node, ~290 MB installed) is only needed by a node that serves model stages.
 * It loads on first use; when the package is not installed the error says which one and how to add it.
 */
import { ZeoneError } from '../util/errors.js'

export const INFERENCE_PACKAGES = ['onnxruntime-node', 'onnx-proto'] as const

/** True when `err` is Node's "cannot find package NAME" for one of `names`. */
export function isMissingPackage(err: unknown, names: readonly string[]): string | undefined {
  const e = err as NodeJS.ErrnoException
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' && e?.code !== 'MODULE_NOT_FOUND') return undefined
  return names.find((n) => e.message.includes(`'${n}'`) || e.message.includes(`"${n}"`))
}

export async function loadStageRuntime(): Promise<typeof import('./stage.js')> {
  try {
    return await import('./stage.js')
  } catch (err) {
    const pkg = isMissingPackage(err, INFERENCE_PACKAGES)
    if (!pkg) throw err
    throw new ZeoneError('runtime_missing',
      `serving model stages needs the inference runtime, which is not installed (package ${pkg}); `
      + 'install it with `npm install onnxruntime-node onnx-proto` (versions in package.json), or run this node without cortex.serve', { cause: err })
  }
}
