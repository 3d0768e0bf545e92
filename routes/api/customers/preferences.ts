import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { updatePreferences } from '../../../generated/operations/updatePreferences.js'
import { entityTag, versionsMatching } from '../../../lib/entity-tag.js'
import { validationFailed } from '../../../lib/http-errors.js'
import * as preferences from '../../../services/preferences.js'

/** `"[12, 7]"` becomes `[12, 7]` before validation, so both forms meet the same rules. */
function parseFavoriteProducts(body: unknown): void {
  if (typeof body !== 'object' || body === null) return
  const holder = body as { favorite_products?: unknown }
  if (typeof holder.favorite_products !== 'string') return
  try {
    const parsed: unknown = JSON.parse(holder.favorite_products)
    if (Array.isArray(parsed)) {
      holder.favorite_products = parsed
      return
    }
  } catch {
    // reported below
  }
  throw validationFailed([{ path: 'favorite_products', message: preferences.FAVORITES_MESSAGE }])
}

/** Endpoint 9: contact and product preferences. */
const preferenceRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.route({
    ...updatePreferences,
    preValidation: async function favoritesFromJson(request) {
      parseFavoriteProducts(request.body)
    },
    config: { idempotent: true },
    handler: async function update(request, reply) {
      const { businessId, customerId } = request.params
      const updated = await preferences.updatePreferences(
        request.db,
        businessId,
        customerId,
        request.body,
        versionsMatching(request.headers['if-match']),
      )
      reply.header('etag', entityTag(updated.version))
      return { message: 'Preferences updated successfully' as const, preferences: updated }
    },
  })
}

export default preferenceRoutes
