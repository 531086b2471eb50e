import { z } from 'zod'

/** Config section `services` (owned by src/services). Every field has a default so an empty section is valid. */
export const servicesConfigSchema = z.object({}).strict()
