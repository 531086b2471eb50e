/** Re-export: the Service contract lives in src/interfaces/service.ts so that layers such as cortex can implement it. */
export type { Service, ServeContext } from '../interfaces/service.js'
