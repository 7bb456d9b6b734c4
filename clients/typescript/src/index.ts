// The API's typed client: openapi-fetch over the types openapi-typescript
// generates from the OpenAPI document (`src/schema.ts`, `just client-ts`).
// Paths, parameters, bodies and answers, errors included, are checked by
// the compiler against the document.
import createClient from "openapi-fetch";

import type { components, paths } from "./schema.js";

export type { components, paths };
/** Every named schema of the document: `Schemas["TaskResponse"]`. */
export type Schemas = components["schemas"];

/**
 * A client of the API at `baseUrl` (`http://127.0.0.1:8000`). `token`
 * gives the access token to send, if any, when each request is made, so a
 * refresh or a logout takes effect on the next call.
 */
export function createApiClient(baseUrl: string, token: () => string | undefined = () => undefined) {
  const client = createClient<paths>({ baseUrl });
  client.use({
    onRequest({ request }) {
      const access = token();
      if (access) request.headers.set("Authorization", `Bearer ${access}`);
      return request;
    },
  });
  return client;
}

export type ApiClient = ReturnType<typeof createApiClient>;
