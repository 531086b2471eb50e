import { z } from 'zod'

/** Config section `cortex` (owned by src/cortex). Every field has a default so an empty section is valid. */
export const cortexConfigSchema = z.object({}).strict()
