// End to end: the generated client against a running API (API_BASE_URL,
// started by clients/check on a fresh database). Every call goes through
// the typed client, so a document that stops matching these uses fails
// `tsc` before it fails here.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createApiClient, type Schemas } from "../src/index.js";

const baseUrl = process.env.API_BASE_URL;
if (!baseUrl) throw new Error("API_BASE_URL is not set (clients/check sets it)");

test("a user's whole session through the generated client", async () => {
  let tokens: Schemas["TokenResponse"] | undefined;
  const api = createApiClient(baseUrl, () => tokens?.access_token);
  const suffix = Date.now().toString(36);
  const account = {
    email: `client${suffix}@example.com`,
    username: `client${suffix}`,
    password: "Client!pass1",
  };

  const registered = await api.POST("/v1/users/", { body: account });
  assert.equal(registered.response.status, 201);
  assert.equal(registered.data?.email, account.email);

  const login = await api.POST("/v1/users/login", {
    body: { email: account.email, password: account.password },
  });
  assert.equal(login.response.status, 200);
  tokens = login.data;

  const refreshed = await api.POST("/v1/users/refresh", {
    body: { refresh_token: tokens!.refresh_token },
  });
  assert.equal(refreshed.response.status, 200);
  assert.notEqual(refreshed.data?.refresh_token, tokens!.refresh_token);
  tokens = refreshed.data;

  const me = await api.GET("/v1/users/me");
  assert.equal(me.data?.uuid, registered.data?.uuid);
  const renamed = await api.PATCH("/v1/users/me", { body: { username: `renamed${suffix}` } });
  assert.equal(renamed.data?.username, `renamed${suffix}`);

  const users = await api.GET("/v1/users/", { params: { query: { sort: "-created_at", limit: 10 } } });
  assert.equal(users.response.status, 200);
  assert.equal(users.data?.[0]?.uuid, me.data?.uuid, "the newest user first");
  assert.ok(Number(users.response.headers.get("X-Total-Count")) >= 1);

  const titles = ["b task", "c task", "a task"];
  const created: Schemas["TaskResponse"][] = [];
  for (const title of titles) {
    const task = await api.POST("/v1/tasks/", { body: { title, description: "From the client" } });
    assert.equal(task.response.status, 201);
    created.push(task.data!);
  }
  const page = async (skip: number) =>
    api.GET("/v1/tasks/", { params: { query: { sort: "title", skip, limit: 2 } } });
  const first = await page(0);
  assert.deepEqual(first.data?.map((task) => task.title), ["a task", "b task"]);
  assert.equal(first.response.headers.get("X-Total-Count"), "3");
  const second = await page(2);
  assert.deepEqual(second.data?.map((task) => task.title), ["c task"]);

  const uuid = created[0]!.uuid;
  const path = { params: { path: { task_uuid: uuid } } };
  const fetched = await api.GET("/v1/tasks/{task_uuid}", path);
  assert.equal(fetched.data?.title, "b task");
  const updated = await api.PATCH("/v1/tasks/{task_uuid}", { ...path, body: { is_completed: true } });
  assert.equal(updated.data?.is_completed, true);
  const deleted = await api.DELETE("/v1/tasks/{task_uuid}", path);
  assert.equal(deleted.response.status, 204);

  // Errors are typed too: a union of the bodies the operation documents,
  // the contract's `ErrorBody` for a 404 and FastAPI's 422 body.
  const gone = await api.GET("/v1/tasks/{task_uuid}", path);
  assert.equal(gone.response.status, 404);
  const notFound = gone.error;
  assert.ok(notFound && "error_code" in notFound, "an ErrorBody");
  assert.equal(notFound.error_code, 404);
  assert.equal(notFound.message, "Task not found");
  const invalid = await api.POST("/v1/tasks/", { body: { title: "", description: "x" } });
  assert.equal(invalid.response.status, 422);
  const refused = invalid.error;
  assert.ok(refused && "detail" in refused, "a ValidationErrorBody");
  assert.deepEqual(refused.detail[0]?.loc, ["body", "title"]);

  const logout = await api.POST("/v1/users/logout");
  assert.equal(logout.response.status, 204);
  const reuse = await api.POST("/v1/users/refresh", { body: { refresh_token: tokens!.refresh_token } });
  assert.equal(reuse.response.ok, false, "the login's refresh token ended with it");
});
