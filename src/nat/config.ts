import { z } from 'zod'

/** Config section `nat` (owned by src/nat). Every field has a default so an empty section is valid. */
export const natConfigSchema = z.object({}).strict()
