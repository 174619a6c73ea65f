// The OpenAPI 3.1 document of the admin API, generated from the route table and its zod
// schemas (OpenAPI 3.1 schemas are JSON Schema 2020-12, which zod emits).
import { z } from 'zod';
import { ADMIN_ROUTES, type AdminRoute } from './routes.js';
import { problem } from './schemas.js';

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  return rest;
}

function parameters(route: AdminRoute): JsonSchema[] {
  const result: JsonSchema[] = [];
  for (const [location, schema] of [['path', route.params], ['query', route.query]] as const) {
    if (!schema) continue;
    const described = jsonSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, property] of Object.entries(described.properties ?? {})) {
      const { description, ...propertySchema } = property;
      result.push({
        name,
        in: location,
        required: location === 'path' || (described.required ?? []).includes(name),
        ...(description ? { description } : {}),
        schema: propertySchema,
      });
    }
  }
  return result;
}

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

function operation(route: AdminRoute): JsonSchema {
  const responses: Record<string, JsonSchema> = {
    [String(route.response.status)]: {
      description: route.response.description,
      ...(route.response.schema ? { content: { 'application/json': { schema: jsonSchema(route.response.schema, 'output') } } } : {}),
    },
    401: problemResponse('No token, or an invalid, expired, revoked or wrong-audience one'),
    403: problemResponse(`The token lacks the ${route.scope} scope`),
    429: problemResponse('Too many requests; see Retry-After'),
  };
  if (route.body || route.query) responses[400] = problemResponse('Invalid input, with one entry per invalid field');
  if (route.params) responses[404] = problemResponse('No such resource');
  if (route.mutates) responses[409] = problemResponse('Conflicts with the current state (e.g. a duplicate email)');
  if (route.body) {
    responses[413] = problemResponse('The body is larger than 64 KiB');
    responses[415] = problemResponse('The body is not application/json');
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    security: [{ oauth2: [route.scope] }],
    ...(route.params || route.query ? { parameters: parameters(route) } : {}),
    ...(route.body
      ? { requestBody: { required: !route.bodyOptional, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } } }
      : {}),
    responses,
  };
}

export function buildOpenApiDocument(options: { serverUrl: string; tokenUrl: string; audience: string; version: string }): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of ADMIN_ROUTES) {
    (paths[route.path] ??= {})[route.method] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse admin API',
      version: options.version,
      description:
        `Manage clients, users, roles, APIs, signing keys, registration tokens and read the audit trail. Every call needs an access token for the audience ${options.audience} `
        + 'with the scope admin (everything) or admin:read (reads only); get one with client credentials, e.g. '
        + `grant_type=client_credentials&scope=admin at ${options.tokenUrl}. Errors are RFC 9457 problem documents.`,
    },
    servers: [{ url: options.serverUrl }],
    security: [{ oauth2: ['admin'] }],
    tags: ['Clients', 'Users', 'Roles', 'APIs', 'Keys', 'Registration tokens', 'Audit'].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        oauth2: {
          type: 'oauth2',
          description: `Access tokens from Gatehouse for the admin API (resource ${options.audience})`,
          flows: {
            clientCredentials: {
              tokenUrl: options.tokenUrl,
              scopes: { admin: 'Read and change everything', 'admin:read': 'Read everything, change nothing' },
            },
          },
        },
      },
      schemas: { Problem: jsonSchema(problem, 'output') },
    },
  };
}
