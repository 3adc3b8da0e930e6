import type { ProviderClaims } from './provider.js';

/**
 * What GoTrue keeps of a provider's user in identity_data and merges into user_metadata
 * (structs.Map of provider.Claims): its non-empty claims under GoTrue's names, with
 * email_verified and phone_verified always present.
 */
export function identityDataOf(claims: ProviderClaims, issuer: string | null): Record<string, unknown> {
  const data: Record<string, unknown> = { ...claims.extra };
  if (issuer !== null) data['iss'] = issuer;
  data['sub'] = claims.subject;
  data['provider_id'] = claims.subject;
  if (claims.name !== null) {
    data['name'] = claims.name;
    data['full_name'] = claims.name;
  }
  if (claims.avatarUrl !== null) {
    data['picture'] = claims.avatarUrl;
    data['avatar_url'] = claims.avatarUrl;
  }
  if (claims.email !== null) data['email'] = claims.email;
  data['email_verified'] = claims.emailVerified;
  data['phone_verified'] = false;
  return data;
}
