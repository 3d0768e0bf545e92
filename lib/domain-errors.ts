/**
 * What a business operation can refuse, in the domain's words. Services throw these; they know
 * nothing of HTTP. plugins/errors.ts turns each class into the contract's status and body, once.
 */

/** One problem with the input: the field (dotted path) and what is wrong with it. */
export interface ErrorDetail {
  path: string
  message: string
}

export abstract class DomainError extends Error {}

/** The thing asked for does not exist in this business (or is not visible to it). */
export class NotFound extends DomainError {
  constructor(readonly resource: 'customer' | 'import' | 'webhook endpoint' | 'resource') {
    super(`${resource} not found`)
    this.name = 'NotFound'
  }
}

/** The input breaks a rule the schema cannot express; one detail per problem. */
export class Invalid extends DomainError {
  constructor(readonly details: ErrorDetail[]) {
    super(details.map((detail) => `${detail.path} ${detail.message}`).join('; '))
    this.name = 'Invalid'
  }
}

/** The request is valid but clashes with the current state (retry later, or differently). */
export class Conflict extends DomainError {
  constructor(
    readonly title: string,
    message?: string,
  ) {
    super(message ?? title)
    this.name = 'Conflict'
  }
}

/** The request is well-formed but cannot apply to what it names (a sale of another customer). */
export class Unprocessable extends DomainError {
  constructor(
    readonly title: string,
    message: string,
    /** One entry per refused part of the request, when it names several (a merge's sources). */
    readonly details?: ErrorDetail[],
  ) {
    super(message)
    this.name = 'Unprocessable'
  }
}

/** A conditional change (If-Match) named a version that is no longer the current one. */
export class PreconditionFailed extends DomainError {
  constructor(readonly currentVersion: number) {
    super(`the current version is ${currentVersion}`)
    this.name = 'PreconditionFailed'
  }
}

/** The input is larger than the operation takes (an import's file, its rows). */
export class TooLarge extends DomainError {
  constructor(message: string) {
    super(message)
    this.name = 'TooLarge'
  }
}

/** The one-field shorthand: `invalid('phone', 'must be a valid phone number')`. */
export const invalid = (path: string, message: string): Invalid => new Invalid([{ path, message }])
