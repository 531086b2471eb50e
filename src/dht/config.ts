import { z } from 'zod'

/** Config section `dht` (owned by src/dht). Every field has a default so an empty section is valid. */
export const dhtConfigSchema = z.object({}).strict()
