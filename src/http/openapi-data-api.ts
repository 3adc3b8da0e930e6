/**
 * The data API in the OpenAPI document. It is one catch-all route (its resources are db.json's keys,
 * which change while it runs), so its paths are written here, generic over the resource name, as
 * docs/data-api.md describes them.
 */

type Operation = Record<string, unknown>;

const json = (schema: unknown, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const Record_ = { type: 'object', additionalProperties: true, description: 'a record' };
const Records = { type: 'array', items: Record_ };
const Empty = { type: 'object', description: '{}' };
const NoAuthorization = json({ type: 'string', const: 'No authorization' }, 'No valid access token');
const Forbidden = json({}, 'The token may not do this (the access rules)');
const NotFound = json(Empty, 'No such record or resource');
const BadRequest = json({}, 'Bad input (a body or a query past the limits, a reserved field name)');

const errors = { 400: BadRequest, 401: NoAuthorization, 403: Forbidden, 404: NotFound };

const resource = {
  name: 'resource',
  in: 'path',
  required: true,
  description: 'a top-level key of db.json: an array is a plural resource, an object a singular one',
  schema: { type: 'string' },
};
const id = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const child = {
  name: 'child',
  in: 'path',
  required: true,
  description: 'a plural resource whose records hold `<resource singular><foreignKeySuffix>`',
  schema: { type: 'string' },
};

const query = (name: string, description: string) => ({
  name,
  in: 'query',
  required: false,
  description,
  schema: { type: 'string' },
});
const listQuery = [
  query('_page', 'page number (with X-Total-Count and Link)'),
  query('_limit', 'records per page, or a limit with _start'),
  query('_start', 'first index'),
  query('_end', 'index past the last'),
  query('_sort', 'fields to sort by, separated by commas'),
  query('_order', 'asc or desc per _sort field'),
  query('q', 'full-text search'),
  query('_embed', 'child resources to embed'),
  query('_expand', 'parent resources to expand'),
];
const listDescription =
  'Filters: `field=value` (deep paths such as `author.name`; a repeated key means OR), `field_gte`, ' +
  '`field_lte`, `field_ne`, `field_like` (a case-insensitive regular expression).';

const body = (description: string) => ({
  required: true,
  content: { 'application/json': { schema: { ...Record_, description } } },
});

function op(summary: string, extra: Operation): Operation {
  return { tags: ['data API'], summary, security: [{ bearer: [] }, {}], ...extra };
}

export function dataApiPaths(): Record<string, Record<string, unknown>> {
  return {
    '/__rules': {
      get: {
        tags: ['data API'],
        summary: "The routes file's rewrite rules in force (json-server's), read again under --watch",
        responses: {
          200: json({ type: 'object', additionalProperties: { type: 'string' } }, 'pattern → target'),
          404: json(Empty, 'No rules'),
        },
      },
    },
    '/db': {
      get: op('The whole document the caller may read', {
        responses: { 200: json({ type: 'object' }, 'db.json, filtered by the access rules'), ...errors },
      }),
    },
    '/{resource}': {
      parameters: [resource],
      get: op('A plural resource (a list, with the query options) or a singular one', {
        description: listDescription,
        parameters: listQuery,
        responses: {
          200: json({ oneOf: [Records, Record_] }, 'the records, or the singular resource'),
          ...errors,
        },
      }),
      post: op('Create a record (a new id: max + 1, or a random string); a singular resource is replaced', {
        requestBody: body('the new record'),
        responses: {
          201: json(Record_, 'the record, with a Location header'),
          ...errors,
          413: json({}, 'Too large'),
        },
      }),
      put: op('Replace a singular resource', {
        requestBody: body('the resource'),
        responses: { 200: json(Record_, 'the resource'), ...errors },
      }),
      patch: op('Merge fields into a singular resource', {
        requestBody: body('the fields'),
        responses: { 200: json(Record_, 'the resource'), ...errors },
      }),
    },
    '/{resource}/{id}': {
      parameters: [resource, id],
      get: op('One record (`1` finds the ids 1 and "1")', {
        parameters: [
          query('_embed', 'child resources to embed'),
          query('_expand', 'parent resources to expand'),
        ],
        responses: { 200: json(Record_, 'the record'), ...errors },
      }),
      put: op('Replace a record (its id is kept)', {
        requestBody: body('the record'),
        responses: { 200: json(Record_, 'the record'), ...errors, 413: json({}, 'Too large') },
      }),
      patch: op('Merge fields into a record', {
        requestBody: body('the fields'),
        responses: { 200: json(Record_, 'the record'), ...errors, 413: json({}, 'Too large') },
      }),
      delete: op('Delete a record', {
        parameters: [query('_dependent', 'child resources to delete with it')],
        responses: { 200: json(Empty, 'deleted'), ...errors },
      }),
    },
    '/{resource}/{id}/{child}': {
      parameters: [resource, id, child],
      get: op("The record's children", {
        description: listDescription,
        parameters: listQuery,
        responses: { 200: json(Records, 'the children'), ...errors },
      }),
      post: op('Create a child of the record', {
        requestBody: body('the new child'),
        responses: { 201: json(Record_, 'the child, with a Location header'), ...errors },
      }),
    },
  };
}
