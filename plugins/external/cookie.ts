/** Parses cookies so a token can arrive in the `token` cookie. https://github.com/fastify/fastify-cookie */
export { default, type FastifyCookieOptions } from '@fastify/cookie'
