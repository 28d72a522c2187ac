/**
 * The hub's pages: first-run setup (`/setup?token=…`), sign-in, sign-up (`/sign-up?invite=…`),
/**
 * The hub's pages: first-run setup (`/setup?token=…`), sign-in, sign-up (`/sign-up?invite=…`),
 * a workspace's invite link (`/join#<token>`: sign in or up, then join), a new password
 * through an admin's reset link (`/reset#<token>`) and, once signed in, the dashboard. The
 * credential a sign-in answers with is kept like plus's (lib/session.ts): in this origin's
 * storage, sent in a header.
 */
import {
  createEffect,
  createResource,
  createSignal,
  type JSX,
  Match,
  onCleanup,
  Show,
  Switch,
} from "solid-js";
import { RESET_PATH } from "../../../shared/hub.js";
import { messageOf } from "../lib/delay.js";
import { openHubConnection } from "../lib/hub-connection.js";
import {
  apiFetch,
  errorMessage,
  hasCredential,
  keepCredential,
  postJson,
  signedOut,
  signOut,
} from "../lib/session.js";
import { AdminInvites } from "./admin-invites.js";
import { AdminAccounts, AdminActivity, AdminHosts } from "./admin-section.js";
import { SessionsSection } from "./sessions-section.js";
import { SshKeysSection } from "./ssh-keys-section.js";
import { HubWorkspacePage, workspaceOfPath } from "./workspace-page.js";
import { WorkspacesSection } from "./workspaces-section.js";
import "./hub.css";

interface Me {
  account: { id: string; role: "admin" | "user"; status: string; created: string };
  email?: string;
}

type Page = "setup" | "sign-in" | "sign-up" | "join" | "reset";

/**
 * An invite link's token, taken from the fragment once (browsers never send a fragment, so
 * no server or proxy logs it) and out of the address bar at once.
 */
const joinToken = location.pathname === "/join" ? location.hash.slice(1) : "";
if (joinToken) history.replaceState(null, "", "/join");

function pageOfPath(): Page {
  if (location.pathname === "/join") return "join";
  if (location.pathname === "/setup") return "setup";
  if (location.pathname === RESET_PATH) return "reset";
  if (location.pathname === "/sign-up") return "sign-up";
  return "sign-in";
}

export function HubRoot() {
  const [signedIn, setSignedIn] = createSignal(hasCredential());
  const [page, setPage] = createSignal<Page>(pageOfPath());
  const go = (p: Page) => {
    history.replaceState(null, "", p === "sign-in" ? "/" : `/${p}`);
    setPage(p);
  };
  const onSignedIn = (credential: string) => {
    keepCredential(credential);
    if (page() === "join") {
      // Signed in to accept the link: the join page takes it from here.
      setSignedIn(true);
      return;
    }
    // The token or invite of the link is spent: it leaves the address bar.
    history.replaceState(null, "", "/");
    // Signing out later comes back to sign-in, not to the spent link's page.
    setPage("sign-in");
    setSignedIn(true);
  };
  return (
    <div class="hub">
      <Show
        when={page() !== "reset"}
        fallback={<ResetPage onSignedIn={onSignedIn} onSignIn={() => go("sign-in")} />}
      >
        <Show
          when={signedIn() && !signedOut()}
          fallback={
            <Switch>
              <Match when={page() === "join"}>
                <JoinSignIn onSignedIn={onSignedIn} />
              </Match>
              <Match when={page() === "setup"}>
                <SetupPage onSignedIn={onSignedIn} />
              </Match>
              <Match when={page() === "sign-up"}>
                <SignUpPage onSignedIn={onSignedIn} onSignIn={() => go("sign-in")} />
              </Match>
              <Match when={page() === "sign-in"}>
                <SignInPage onSignedIn={onSignedIn} onSignUp={() => go("sign-up")} />
              </Match>
            </Switch>
          }
        >
          <Show
            when={page() !== "join"}
            fallback={<JoinPage token={joinToken} onDashboard={() => go("sign-in")} />}
          >
            <Show
              when={workspaceOfPath(location.pathname)}
              fallback={<Dashboard onSignedOut={() => setSignedIn(false)} />}
            >
              {(wsid) => <HubWorkspacePage wsid={wsid()} />}
            </Show>
          </Show>
        </Show>
      </Show>
    </div>
  );
}

/** A card with a form whose submit posts `body()` to `path` and signs in with the answer. */
function AuthForm(props: {
  title: string;
  testid: string;
  path: string;
  submit: string;
  body: () => unknown;
  /** What is wrong with the form before it is sent, if anything. */
  check?: () => string | undefined;
  onSignedIn: (credential: string) => void;
  children: JSX.Element;
  footer?: JSX.Element;
}) {
  const [busy, setBusy] = createSignal(false);
  const [problem, setProblem] = createSignal<string>();
  const onSubmit = async (e: SubmitEvent) => {
    e.preventDefault();
    const wrong = props.check?.();
    setProblem(wrong);
    if (wrong) return;
    setBusy(true);
    try {
      const res = await postJson(props.path, props.body());
      if (!res.ok) {
        setProblem(await errorMessage(res));
        return;
      }
      const { credential } = (await res.json()) as { credential: string };
      props.onSignedIn(credential);
    } catch (err) {
      setProblem(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="hub-card" data-testid={props.testid}>
      <h1>{props.title}</h1>
      <form class="hub-form" onSubmit={(e) => void onSubmit(e)}>
        {props.children}
        <Show when={problem()}>
          <p class="hub-problem" role="alert" data-testid="hub-problem">
            {problem()}
          </p>
        </Show>
        <button type="submit" class="button hub-submit" disabled={busy()}>
          {busy() ? "…" : props.submit}
        </button>
      </form>
      {props.footer}
    </div>
  );
}

function Field(props: {
  label: string;
  name: string;
  type?: string;
  value: string;
  onInput: (v: string) => void;
  autocomplete?: string;
}) {
  return (
    <label class="hub-field">
      <span>{props.label}</span>
      <input
        name={props.name}
        data-testid={`hub-${props.name}`}
        type={props.type ?? "text"}
        value={props.value}
        autocomplete={props.autocomplete}
        required
        onInput={(e) => props.onInput(e.currentTarget.value)}
      />
    </label>
  );
}

/** The email and password fields of every form: a new password says how long it must be. */
function EmailAndPassword(props: {
  email: string;
  password: string;
  onEmail: (v: string) => void;
  onPassword: (v: string) => void;
  fresh: boolean;
}) {
  return (
    <>
      <Field
        label="Email"
        name="email"
        type="email"
        value={props.email}
        onInput={props.onEmail}
        autocomplete="email"
      />
      <Field
        label={props.fresh ? "Password (at least 10 characters)" : "Password"}
        name="password"
        type="password"
        value={props.password}
        onInput={props.onPassword}
        autocomplete={props.fresh ? "new-password" : "current-password"}
      />
    </>
  );
}

function SetupPage(props: { onSignedIn: (c: string) => void }) {
  const token = new URLSearchParams(location.search).get("token") ?? "";
  const [email, setEmail] = createSignal("");
  const [password, setPassword] = createSignal("");
  return (
    <AuthForm
      title="Set up this hub"
      testid="hub-setup"
      path="/api/hub/setup"
      submit="Create the admin account"
      body={() => ({ setupToken: token, email: email(), password: password() })}
      onSignedIn={props.onSignedIn}
    >
      <p class="muted">The first account is the hub's admin. This link works once.</p>
      <EmailAndPassword
        email={email()}
        password={password()}
        onEmail={setEmail}
        onPassword={setPassword}
        fresh={true}
      />
    </AuthForm>
  );
}

/**
 * A new password through an admin's reset link. The token is in the link's hash, which no
 * server sees; it leaves the address bar (and so the history) as soon as the page has it.
 */
function ResetPage(props: { onSignedIn: (c: string) => void; onSignIn: () => void }) {
  const token = decodeURIComponent(location.hash.slice(1));
  history.replaceState(null, "", RESET_PATH);
  const [password, setPassword] = createSignal("");
  const [again, setAgain] = createSignal("");
  return (
    <AuthForm
      title="Set a new password"
      testid="hub-reset"
      path="/api/hub/reset"
      submit="Set the password and sign in"
      body={() => ({ token, password: password() })}
      check={() =>
        !token
          ? "this reset link is not complete: open the whole link you were given"
          : password() !== again()
            ? "the two passwords differ"
            : undefined
      }
      onSignedIn={props.onSignedIn}
      footer={
        <p class="muted">
          Remember it after all?{" "}
          <button type="button" class="link-button" onClick={() => props.onSignIn()}>
            Sign in
          </button>
        </p>
      }
    >
      <p class="muted">
        An admin made this link for your account. It works once; your browsers that are signed in
        now will be signed out.
      </p>
      <Field
        label="New password (at least 10 characters)"
        name="password"
        type="password"
        value={password()}
        onInput={setPassword}
        autocomplete="new-password"
      />
      <Field
        label="The same again"
        name="password-again"
        type="password"
        value={again()}
        onInput={setAgain}
        autocomplete="new-password"
      />
    </AuthForm>
  );
}

function SignInPage(props: { onSignedIn: (c: string) => void; onSignUp: () => void }) {
  const [email, setEmail] = createSignal("");
  const [password, setPassword] = createSignal("");
  return (
    <AuthForm
      title="Sign in"
      testid="hub-sign-in"
      path="/api/hub/sign-in"
      submit="Sign in"
      body={() => ({ email: email(), password: password() })}
      onSignedIn={props.onSignedIn}
      footer={
        <p class="muted">
          New here?{" "}
          <button type="button" class="link-button" onClick={() => props.onSignUp()}>
            Sign up
          </button>{" "}
          (with an invite, unless the admin opened sign-up)
        </p>
      }
    >
      <EmailAndPassword
        email={email()}
        password={password()}
        onEmail={setEmail}
        onPassword={setPassword}
        fresh={false}
      />
    </AuthForm>
  );
}

function SignUpPage(props: { onSignedIn: (c: string) => void; onSignIn: () => void }) {
  const [invite, setInvite] = createSignal(
    new URLSearchParams(location.search).get("invite") ?? "",
  );
  const [email, setEmail] = createSignal("");
  const [password, setPassword] = createSignal("");
  return (
    <AuthForm
      title="Sign up"
      testid="hub-sign-up"
      path="/api/hub/sign-up"
      submit="Create my account"
      body={() => ({ email: email(), password: password(), ...(invite() && { invite: invite() }) })}
      onSignedIn={props.onSignedIn}
      footer={
        <p class="muted">
          Have an account?{" "}
          <button type="button" class="link-button" onClick={() => props.onSignIn()}>
            Sign in
          </button>
        </p>
      }
    >
      <Show when={!new URLSearchParams(location.search).get("invite")}>
        <label class="hub-field">
          <span>Invite (if you were given one)</span>
          <input
            data-testid="hub-invite"
            value={invite()}
            onInput={(e) => setInvite(e.currentTarget.value)}
          />
        </label>
      </Show>
      <EmailAndPassword
        email={email()}
        password={password()}
        onEmail={setEmail}
        onPassword={setPassword}
        fresh={true}
      />
    </AuthForm>
  );
}

/** An invite link opened signed out: sign in (or up) first, then the link is accepted. */
function JoinSignIn(props: { onSignedIn: (c: string) => void }) {
  const [signUp, setSignUp] = createSignal(false);
  return (
    <div data-testid="hub-join-sign-in">
      <p class="hub-join-intro">
        You were invited to a workspace. Sign in, or sign up, and you join it.
      </p>
      <Show
        when={signUp()}
        fallback={<SignInPage onSignedIn={props.onSignedIn} onSignUp={() => setSignUp(true)} />}
      >
        <SignUpPage onSignedIn={props.onSignedIn} onSignIn={() => setSignUp(false)} />
      </Show>
    </div>
  );
}

/** Accepts the invite link's token once, then opens the workspace it gave. */
function JoinPage(props: { token: string; onDashboard: () => void }) {
  const [joined] = createResource(async () => {
    if (!props.token) throw new Error("this invite link has no token: open the whole link");
    const res = await postJson("/api/hub/join", { token: props.token });
    if (!res.ok) throw new Error(await errorMessage(res));
    return ((await res.json()) as { joined: { wsid: string; role: string } }).joined;
  });
  createEffect(() => {
    const j = joined();
    if (j) location.assign(`/ws/${j.wsid}/`);
  });
  return (
    <div class="hub-card" data-testid="hub-join">
      <h1>Joining the workspace</h1>
      <Show
        when={joined.error}
        fallback={
          <p class="muted" data-testid="hub-join-state">
            {joined() ? `Joined as ${joined()!.role}; opening it…` : "Accepting the invite…"}
          </p>
        }
      >
        <p class="hub-problem" role="alert" data-testid="hub-join-problem">
          {messageOf(joined.error)}
        </p>
        <p>
          <button type="button" class="link-button" onClick={() => props.onDashboard()}>
            Go to your workspaces
          </button>
        </p>
      </Show>
    </div>
  );
}

function Dashboard(props: { onSignedOut: () => void }) {
  const [me] = createResource(async (): Promise<Me> => {
    const res = await apiFetch("/api/hub/me", { cache: "no-store" });
    if (!res.ok) throw new Error(await errorMessage(res));
    return (await res.json()) as Me;
  });
  const [problem, setProblem] = createSignal<string>();
  // The page's own NATS login: its workspaces' views, live.
  const conn = openHubConnection();
  onCleanup(() => void conn.close());
  const out = async (everywhere: boolean) => {
    try {
      await signOut(everywhere);
      props.onSignedOut();
    } catch (err) {
      setProblem(messageOf(err));
    }
  };
  return (
    <div class="hub-dashboard" data-testid="hub-dashboard">
      <header class="hub-header">
        <span class="hub-brand">cocalc launchpad</span>
        <span class="hub-who" data-testid="hub-who">
          {me()?.email ?? ""}
          <Show when={me()?.account.role === "admin"}>
            <span class="hub-badge">admin</span>
          </Show>
        </span>
        <button
          type="button"
          class="button"
          data-testid="hub-sign-out"
          onClick={() => void out(false)}
        >
          Sign out
        </button>
        <button
          type="button"
          class="button"
          data-testid="hub-sign-out-everywhere"
          onClick={() => void out(true)}
        >
          Sign out everywhere
        </button>
      </header>
      <Show when={problem() ?? (me.error ? messageOf(me.error) : undefined)}>
        {(p) => (
          <p class="banner banner-warn" role="alert">
            {p()}
          </p>
        )}
      </Show>
      <Show when={me()?.account.id}>
        {(id) => <WorkspacesSection conn={conn} accountId={id()} />}
      </Show>
      <ChangePassword />
      <Show when={me()?.account.id}>
        {(id) => <SessionsSection conn={conn} accountId={id()} />}
      </Show>
      <SshKeysSection />
      <Show when={me()?.account.role === "admin"}>
        <AdminInvites />
        <AdminAccounts />
        <AdminHosts />
        <AdminActivity />
      </Show>
    </div>
  );
}

/** A new password; the account's other browsers are signed out, this one stays. */
function ChangePassword() {
  const [old, setOld] = createSignal("");
  const [password, setPassword] = createSignal("");
  const [said, setSaid] = createSignal<{ ok: boolean; text: string }>();
  const change = async (e: Event) => {
    e.preventDefault();
    setSaid(undefined);
    const res = await postJson("/api/hub/password", { old: old(), password: password() });
    if (!res.ok) return setSaid({ ok: false, text: await errorMessage(res) });
    setOld("");
    setPassword("");
    setSaid({ ok: true, text: "Password changed; your other browsers are signed out." });
  };
  return (
    <section class="hub-section" data-testid="hub-password">
      <h2>Your account</h2>
      <form class="hub-row" onSubmit={change}>
        <label class="hub-inline">
          Current password
          <input
            type="password"
            autocomplete="current-password"
            data-testid="hub-password-old"
            value={old()}
            onInput={(e) => setOld(e.currentTarget.value)}
          />
        </label>
        <label class="hub-inline">
          New password
          <input
            type="password"
            autocomplete="new-password"
            data-testid="hub-password-new"
            value={password()}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <button type="submit" class="button" data-testid="hub-password-change">
          Change password
        </button>
      </form>
      <Show when={said()}>
        {(s) => (
          <p class={s().ok ? "muted" : "hub-problem"} role="status" data-testid="hub-password-said">
            {s().text}
          </p>
        )}
      </Show>
    </section>
  );
}
