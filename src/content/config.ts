import { z } from 'zod'

/** Config section `content` (owned by src/content). Every field has a default so an empty section is valid. */
export const contentConfigSchema = z.object({}).strict()
