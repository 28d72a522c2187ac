/** Settings → Sign-in: sign this browser out, or every browser signed in to this plus. */
import { createSignal, Show } from "solid-js";
import { messageOf } from "../lib/delay.js";
import { signOut } from "../lib/session.js";

export function SignInSection() {
  const [busy, setBusy] = createSignal(false);
  const [problem, setProblem] = createSignal<string>();
  const run = async (everywhere: boolean) => {
    setBusy(true);
    setProblem(undefined);
    try {
      await signOut(everywhere);
    } catch (err) {
      setProblem(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="settings-section" data-testid="settings-sign-in">
      <h2>Sign-in</h2>
      <p class="muted">
        This browser keeps its sign-in for this address only. Signing every browser out also changes
        what browsers use to reach NATS; <code>cocalc-plus token --rotate</code> also makes a new
        token (the old URL stops working).
      </p>
      <div class="settings-actions">
        <button
          type="button"
          class="button"
          data-testid="sign-out"
          disabled={busy()}
          onClick={() => void run(false)}
        >
          Sign out
        </button>
        <button
          type="button"
          class="button button-danger"
          data-testid="sign-out-everywhere"
          disabled={busy()}
          onClick={() => void run(true)}
        >
          Sign out every browser
        </button>
      </div>
      <Show when={problem()}>
        <p class="banner banner-warn" role="alert">
          {problem()}
        </p>
      </Show>
    </section>
  );
}
