import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  updatePreferences as updatePreferencesRow,
  type PreferencesChanges,
} from '../../../db/customer-preferences.js'
import { updatePreferences } from '../../../generated/operations/updatePreferences.js'
import { customerNotFound, validationFailed } from '../../../lib/http-errors.js'
import { toPreferences } from '../../../lib/representations.js'

const FAVORITES_MESSAGE = 'must be an array of product ids, or a string holding one in JSON'

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
  throw validationFailed([{ path: 'favorite_products', message: FAVORITES_MESSAGE }])
}

/** Order kept, duplicates dropped. */
const uniqueIds = (ids: number[]): number[] => [...new Set(ids)]

const preferenceRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.patch(
    '/:customerId/preferences',
    {
      schema: updatePreferences,
      preValidation: async function favoritesFromJson(request) {
        parseFavoriteProducts(request.body)
      },
    },
    async function update(request) {
      const { businessId, customerId } = request.params
      const { favorite_products: favorites, ...fields } = request.body
      const changes: PreferencesChanges = { ...fields }
      if (favorites !== undefined) {
        if (typeof favorites === 'string') {
          throw validationFailed([{ path: 'favorite_products', message: FAVORITES_MESSAGE }])
        }
        changes.favorite_products = uniqueIds(favorites)
      }
      const row = await updatePreferencesRow(app.db, businessId, customerId, changes)
      if (!row) throw customerNotFound()
      return {
        message: 'Preferences updated successfully' as const,
        preferences: toPreferences(row),
      }
    },
  )
}

export default preferenceRoutes
