/**
 * The hub's sign-in over HTTP: first-run setup, sign-up, sign-in with email and password,
 * a new password through a reset link, and who am I. Each success makes a browser credential exactly as plus's token sign-in does
 * (see auth.ts: kept by the page in its origin's storage, sent in a header, no cookie), bound
 * to the account; the accounts service (over NATS, `hubcmd.accounts`) decides everything else.
 * Register after authPlugin, with HUB_PUBLIC_PATHS among its public paths.
 */
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { request } from "../../shared/command-client.js";
import { CocalcError, type ErrorPayload, fromErrorPayload } from "../../shared/errors.js";
import {
  type AccountView,
  HubBuckets,
  type HubConfigView,
  type HubReply,
  HubSubjects,
  SignUpModes,
} from "../../shared/hub.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { checkOrigin } from "./security.js";

export const HUB_PATHS = {
  state: "/api/hub/state",
  setup: "/api/hub/setup",
  signUp: "/api/hub/sign-up",
  signIn: "/api/hub/sign-in",
  me: "/api/hub/me",
  invites: "/api/hub/invites",
  signUpMode: "/api/hub/sign-up-mode",
  password: "/api/hub/password",
  reset: "/api/hub/reset",
} as const;

/** What needs no signed-in browser. */
export const HUB_PUBLIC_PATHS: ReadonlySet<string> = new Set([
  HUB_PATHS.state,
  HUB_PATHS.setup,
  HUB_PATHS.signUp,
  HUB_PATHS.signIn,
  HUB_PATHS.reset,
]);

/** A refusal of a hub service, with how long to wait before trying again (sign-in limits). */
function hubError(error: ErrorPayload & { retryAfterSeconds?: number }): Error {
  const err = fromErrorPayload(error);
  if (error.retryAfterSeconds !== undefined)
    (err as Error & { retryAfterSeconds?: number }).retryAfterSeconds = error.retryAfterSeconds;
  return err;
}

/**
 * One request to a hub service (`subject`: its commands); its answer, or its refusal as an
 * error with the same code, message and retry time.
 */
export function askHub<R extends { ok: boolean }>(
  nc: NatsConnection,
  subject: string,
  type: string,
  data: unknown,
  service: string,
  timeoutMs = 20_000,
): Promise<Exclude<R, { ok: false }>> {
  return request<Omit<Exclude<R, { ok: false }>, "ok">>(
    nc,
    subject,
    { type, data },
    {
      timeoutMs,
      unanswered: () =>
        new CocalcError("ERR_COMMAND_TIMEOUT", `the hub's ${service} did not answer`),
      refused: hubError,
    },
  ) as Promise<Exclude<R, { ok: false }>>;
}

/** The account of the signed-in browser that asks. */
export function accountOfRequest(sessions: BrowserSessions, request: FastifyRequest): string {
  const account = sessions.subjectOf(request.browserSession!);
  if (account === undefined)
    throw new CocalcError("ERR_GATEWAY_AUTH", "not signed in to an account");
  return account;
}

export interface HubAuthOptions {
  nc: NatsConnection;
  sessions: BrowserSessions;
}

const Email = Type.String({ minLength: 1, maxLength: 254 });
const Password = Type.String({ minLength: 1, maxLength: 1024 });
const SetupBody = Type.Object({
  setupToken: Type.String({ maxLength: 256 }),
  email: Email,
  password: Password,
});
const SignUpBody = Type.Object({
  email: Email,
  password: Password,
  invite: Type.Optional(Type.String({ maxLength: 256 })),
});
const SignInBody = Type.Object({ email: Email, password: Password });
const InviteBody = Type.Object({
  uses: Type.Integer({ minimum: 1, maximum: 10_000 }),
  ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 365 * 86_400 })),
});
const ModeBody = Type.Object({ mode: Type.Union(SignUpModes.map((m) => Type.Literal(m))) });
const PasswordBody = Type.Object({ old: Password, password: Password });
const ResetBody = Type.Object({ token: Type.String({ maxLength: 256 }), password: Password });

export const hubAuthPlugin = fp<HubAuthOptions>(
  async (app: FastifyInstance, opts) => {
    const { nc, sessions } = opts;

    const ask = (type: string, data: unknown) =>
      askHub<HubReply>(nc, HubSubjects.command, type, data, "accounts service");

    /** A browser credential for `account`, as the answer to a successful sign-in. */
    async function signedIn(request: FastifyRequest, reply: FastifyReply, account: AccountView) {
      const credential = await sessions.create(request.headers["user-agent"] ?? "", account.id);
      return reply.header("Cache-Control", "no-store").send({ credential, account });
    }

    function refuse(reply: FastifyReply, err: unknown) {
      if (!(err instanceof CocalcError)) throw err;
      const retry = (err as { retryAfterSeconds?: number }).retryAfterSeconds;
      if (retry !== undefined) reply.header("Retry-After", String(retry));
      return reply
        .code(err.status)
        .header("Cache-Control", "no-store")
        .send({
          code: err.code,
          message: err.message,
          ...(retry !== undefined && { retryAfterSeconds: retry }),
        });
    }

    // Opened once: every page load of the hub asks for the state.
    let config: Promise<KV> | undefined;
    app.get(HUB_PATHS.state, async (_request, reply) => {
      config ??= new Kvm(nc).open(HubBuckets.config);
      const kv = await config.catch((err) => {
        config = undefined;
        throw err;
      });
      const e = await kv.get("config");
      const view: HubConfigView =
        e && e.operation === "PUT" && e.length > 0
          ? e.json<HubConfigView>()
          : { setUp: false, signUpMode: "invite" };
      return reply
        .header("Cache-Control", "no-store")
        .send({ setUp: view.setUp, signUpMode: view.signUpMode });
    });

    app.post<{ Body: Static<typeof SetupBody> }>(
      HUB_PATHS.setup,
      { schema: { body: SetupBody } },
      async (request, reply) => {
        checkOrigin(request.raw, true);
        try {
          const r = await ask("SetUpHub", request.body);
          return signedIn(request, reply, r.account!);
        } catch (err) {
          return refuse(reply, err);
        }
      },
    );

    app.post<{ Body: Static<typeof SignUpBody> }>(
      HUB_PATHS.signUp,
      { schema: { body: SignUpBody } },
      async (request, reply) => {
        checkOrigin(request.raw, true);
        try {
          const r = await ask("SignUp", { ...request.body, address: request.ip });
          return signedIn(request, reply, r.account!);
        } catch (err) {
          return refuse(reply, err);
        }
      },
    );

    app.post<{ Body: Static<typeof SignInBody> }>(
      HUB_PATHS.signIn,
      { schema: { body: SignInBody } },
      async (request, reply) => {
        checkOrigin(request.raw, true);
        try {
          const r = await ask("SignIn", { ...request.body, address: request.ip });
          return signedIn(request, reply, r.account!);
        } catch (err) {
          return refuse(reply, err);
        }
      },
    );

    const accountOf = (request: FastifyRequest) => accountOfRequest(sessions, request);

    app.get(HUB_PATHS.me, async (request, reply) => {
      const r = await ask("WhoAmI", { by: accountOf(request) });
      return reply.header("Cache-Control", "no-store").send({ account: r.account, email: r.email });
    });

    app.post<{ Body: Static<typeof InviteBody> }>(
      HUB_PATHS.invites,
      { schema: { body: InviteBody } },
      async (request, reply) => {
        const r = await ask("CreateInvite", { by: accountOf(request), ...request.body });
        return reply.header("Cache-Control", "no-store").send({ invite: r.invite });
      },
    );

    // A new password signs out the account's other browsers; this one stays signed in.
    app.post<{ Body: Static<typeof PasswordBody> }>(
      HUB_PATHS.password,
      { schema: { body: PasswordBody } },
      async (request, reply) => {
        const account = accountOf(request);
        try {
          await ask("ChangePassword", { by: account, ...request.body });
        } catch (err) {
          return refuse(reply, err);
        }
        await sessions.revokeSubject(account, request.browserSession);
        return reply.header("Cache-Control", "no-store").send({ ok: true });
      },
    );

    // A reset link: the new password signs out every browser of the account, then this one
    // is signed in with it.
    app.post<{ Body: Static<typeof ResetBody> }>(
      HUB_PATHS.reset,
      { schema: { body: ResetBody } },
      async (request, reply) => {
        checkOrigin(request.raw, true);
        let account: AccountView;
        try {
          account = (await ask("ResetPassword", request.body)).account!;
        } catch (err) {
          return refuse(reply, err);
        }
        await sessions.revokeSubject(account.id);
        return signedIn(request, reply, account);
      },
    );

    app.post<{ Body: Static<typeof ModeBody> }>(
      HUB_PATHS.signUpMode,
      { schema: { body: ModeBody } },
      async (request, reply) => {
        await ask("SetSignUpMode", { by: accountOf(request), mode: request.body.mode });
        return reply.header("Cache-Control", "no-store").send({ ok: true });
      },
    );
  },
  { name: "hub-auth", dependencies: ["auth"] },
);
