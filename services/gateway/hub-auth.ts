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
  type SessionListItem,
  type SessionsView,
  SignUpModes,
} from "../../shared/hub.js";
import { type BrowserSessions, newSessionId, type SignedOut } from "./browser-sessions.js";
import { deviceOf } from "./device.js";
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
  /** GET: this account's signed-in browsers; DELETE `…/<id>`: sign one out. */
  sessions: "/api/hub/sessions",
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
        new CocalcError(
          "ERR_COMMAND_TIMEOUT",
          `the hub's ${service} did not answer ${type} in ${Math.round(timeoutMs / 1000)} s`,
        ),
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

/** A view a route reads on every request, opened at its first and again after a failed open. */
function openedOnce(nc: NatsConnection, bucket: string): () => Promise<KV> {
  let opened: Promise<KV> | undefined;
  return () => {
    opened ??= new Kvm(nc).open(bucket).catch((err) => {
      opened = undefined;
      throw err;
    });
    return opened;
  };
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

    /**
     * A browser credential for `account`, as the answer to a successful sign-in: given only
     * once its BrowserSignedIn is stored (else that browser is not signed in).
     */
    async function signedIn(request: FastifyRequest, reply: FastifyReply, account: AccountView) {
      const userAgent = request.headers["user-agent"] ?? "";
      const credential = await sessions.create(userAgent, account.id);
      const session = credential.split(".")[0]!;
      try {
        await ask("RecordSignIn", { account: account.id, session, device: deviceOf(userAgent) });
      } catch (err) {
        await sessions.revoke(session);
        throw err;
      }
      return reply.header("Cache-Control", "no-store").send({ credential, account });
    }

    /**
     * The credential of a sign-in whose BrowserSignedIn the accounts service stored already
     * (under `session`, with the password check: one request, not two). Should storing it
     * fail, the sign-in is recorded as ended again.
     */
    async function recordedSignIn(
      reply: FastifyReply,
      account: AccountView,
      browser: { session: string; userAgent: string },
    ) {
      let credential: string;
      try {
        credential = await sessions.create(browser.userAgent, account.id, browser.session);
      } catch (err) {
        await ask("RecordSignOut", {
          account: account.id,
          sessions: [browser.session],
          why: "signed-out",
        }).catch((e) =>
          app.log.warn({ err: e, account: account.id }, "a sign-out was not recorded"),
        );
        throw err;
      }
      return reply.header("Cache-Control", "no-store").send({ credential, account });
    }

    // Every sign-out is recorded on its account (the sessions view follows it).
    const stopRecording = sessions.onRevoke((_ids, gone) => void recordSignOuts(gone));
    app.addHook("onClose", async () => stopRecording());
    async function recordSignOuts(gone: readonly SignedOut[]) {
      const by = new Map<string, { why: SignedOut["why"]; ids: string[] }[]>();
      for (const s of gone) {
        if (s.subject === undefined) continue;
        const groups = by.get(s.subject) ?? [];
        const group = groups.find((g) => g.why === s.why);
        if (group) group.ids.push(s.id);
        else groups.push({ why: s.why, ids: [s.id] });
        by.set(s.subject, groups);
      }
      for (const [account, groups] of by)
        for (const { why, ids } of groups)
          for (let i = 0; i < ids.length; i += 256)
            await ask("RecordSignOut", { account, sessions: ids.slice(i, i + 256), why }).catch(
              (err) => app.log.warn({ err, account }, "a sign-out was not recorded"),
            );
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
    const config = openedOnce(nc, HubBuckets.config);
    app.get(HUB_PATHS.state, async (_request, reply) => {
      const kv = await config();
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
          const userAgent = request.headers["user-agent"] ?? "";
          const session = newSessionId();
          const r = await ask("SignIn", {
            ...request.body,
            address: request.ip,
            browser: { session, device: deviceOf(userAgent) },
          });
          return recordedSignIn(reply, r.account!, { session, userAgent });
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

    // What the view lists and who is signed in part when the hub stopped between the two
    // (or before sign-ins were recorded): the view is brought in line once the hub is ready.
    app.addHook("onReady", async () => {
      void reconcileSessions().catch((err) =>
        app.log.warn({ err }, "the sessions view was not checked"),
      );
    });
    async function reconcileSessions() {
      const kv = await new Kvm(nc).open(HubBuckets.sessions);
      const listed = new Set<string>();
      for await (const account of await kv.keys()) {
        listed.add(account);
        const e = await kv.get(account);
        if (e?.operation !== "PUT" || e.length === 0) continue;
        const listedThere = e.json<SessionsView>().sessions;
        const live = new Set(sessions.sessionsOf(account).map((s) => s.id));
        const gone = listedThere
          .filter((s) => !live.has(s.id))
          .map((s) => ({ id: s.id, subject: account, natsKeys: [], why: "expired" as const }));
        if (gone.length > 0) await recordSignOuts(gone);
        const shown = new Set(listedThere.map((s) => s.id));
        for (const s of sessions.sessionsOf(account))
          if (!shown.has(s.id)) await recordSignIn(account, s.id, s.label);
      }
      for (const account of sessions.subjects())
        if (!listed.has(account))
          for (const s of sessions.sessionsOf(account)) await recordSignIn(account, s.id, s.label);
    }
    function recordSignIn(account: string, session: string, userAgent: string) {
      return ask("RecordSignIn", { account, session, device: deviceOf(userAgent) }).catch((err) =>
        app.log.warn({ err, account }, "a signed-in browser was not recorded"),
      );
    }

    const sessionsView = openedOnce(nc, HubBuckets.sessions);
    app.get(HUB_PATHS.sessions, async (request, reply) => {
      const account = accountOf(request);
      const kv = await sessionsView();
      const e = await kv.get(account);
      const view: SessionsView =
        e && e.operation === "PUT" && e.length > 0 ? e.json<SessionsView>() : { sessions: [] };
      const used = new Map(sessions.sessionsOf(account).map((s) => [s.id, s.lastUsed]));
      const list: SessionListItem[] = view.sessions
        .filter((s) => used.has(s.id))
        .map((s) => ({
          ...s,
          lastUsed: new Date(used.get(s.id)!).toISOString(),
          current: s.id === request.browserSession,
        }))
        .reverse();
      return reply.header("Cache-Control", "no-store").send({ sessions: list });
    });

    app.delete<{ Params: { id: string } }>(`${HUB_PATHS.sessions}/:id`, async (request, reply) => {
      const account = accountOf(request);
      const id = request.params.id;
      if (!sessions.sessionsOf(account).some((s) => s.id === id))
        throw new CocalcError("ERR_HUB_SESSION_NOT_FOUND", "no such signed-in browser of yours");
      await sessions.revoke(id);
      return reply.header("Cache-Control", "no-store").send({ ok: true });
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
        await sessions.revokeSubject(account, "password", request.browserSession);
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
        await sessions.revokeSubject(account.id, "password");
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
