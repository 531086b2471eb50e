import { z } from 'zod'

/** Config section `economy` (owned by src/economy). Every field has a default so an empty section is valid. */
export const economyConfigSchema = z.object({}).strict()
