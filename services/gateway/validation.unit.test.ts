import { Type } from "@sinclair/typebox";
import Fastify from "fastify";
import { afterAll, describe, expect, it } from "vitest";
import { lazyTypeBoxValidator } from "./validation.js";

describe("gateway - request validation", () => {
  const app = Fastify();
  app.setValidatorCompiler(lazyTypeBoxValidator);
  const Body = Type.Object({ url: Type.String({ minLength: 1 }), n: Type.Optional(Type.Number()) });
  app.post("/x", { schema: { body: Body } }, async (request) => ({ got: request.body }));
  afterAll(() => app.close());

  const post = (payload: unknown) =>
    app.inject({ method: "POST", url: "/x", payload: payload as object });

  it("passes a body the schema accepts, as it came", async () => {
    const r = await post({ url: "/a", n: 2, extra: true });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ got: { url: "/a", n: 2, extra: true } });
  });

  it("refuses one it does not with 400 and the field that is wrong", async () => {
    const r = await post({ url: "" });
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toMatch(/^body\/url /);
    expect((await post({ n: 1 })).statusCode).toBe(400);
    expect((await app.inject({ method: "POST", url: "/x" })).statusCode).toBe(400);
  });
});
