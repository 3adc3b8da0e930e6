import { AuthError } from '../core/errors.js';
import { formFields } from '../lib/form-fields.js';

/**
 * The auth routes' form bodies (postgrest-auth's clients, an OAuth provider's form_post callback, the
 * mailed link's confirmation page): one string per field. A field given twice is refused, naming it:
 * no auth route takes a list, and the list Fastify's default parser made of it failed each route's
 * schema as a wrong type, which GoTrue's dialect words as a JSON decoding error (bad_json) although
 * the body was a form.
 */
export function parseFormBody(text: string): Record<string, string> {
  const { fields, repeated } = formFields(text);
  if (repeated !== null) {
    throw new AuthError(
      'validation_failed',
      `Form field ${JSON.stringify(repeated)} is given more than once`,
    );
  }
  return fields as Record<string, string>;
}
