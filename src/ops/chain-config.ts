import { z } from 'zod'

/** Config section `chain` (owned by src/economy/chain, the settlement client). */
export const chainConfigSchema = z.object({}).strict()
