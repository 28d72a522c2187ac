/**
 * What the browser's NATS user of plus may do: exactly what the web app needs, and nothing
 * that changes what the services rely on (their durable consumers, streams and views).
 *
 * nats-server checks only the subject of a publish, never its body, and its wildcards match
 * whole tokens. So every JetStream API call the browser may make has to carry, in its subject,
 * what makes it harmless:
 * - a consumer is created only in the subject form `$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>`
 *   (the server refuses a body whose filter differs from the subject's), on a stream the web
 *   app reads, with a filter inside the workspace. Forms with the name or filter only in the
 *   body (`CONSUMER.CREATE.<stream>`, `CONSUMER.CREATE.<stream>.<name>`, `DURABLE.CREATE`)
 *   match no allow rule: with them a body could rewrite a service's durable.
 * - a consumer name is one token, and a permission cannot match part of a token, so no prefix
 *   can be reserved for the browser's consumers. Instead every name a service's durable has is
 *   denied (create, delete, pull); the services' definitions list their durables and plus
 *   passes all of them here.
 * - replies come to the browser's own inbox prefix only: `_INBOX.>` would let it read the
 *   services' replies (and answer in their place).
 */
import { PLUS_ACCOUNT } from "./presence.js";
import {
  Buckets,
  bucketStream,
  presenceSubjects,
  Streams,
  validateToken,
  workspaceDocSubjects,
  workspaceSubjects,
  workspaceTerminalSubjects,
} from "./subjects.js";

/** The inbox prefix of the web app's connection; its user may receive replies only there. */
export const BrowserInbox = "_INBOX_BROWSER";

/** Event streams the web app replays (terminal output, document patches, turn logs, kernels). */
const EVENT_STREAMS = [
  Streams.WS_TERM,
  Streams.WS_DOCS,
  Streams.WS_AGENT_LOG,
  Streams.WS_KERNEL,
] as const;

/** Views whose keys are `<wsid>` or start with `<wsid>.` (see Keys in shared/subjects.ts). */
const WORKSPACE_VIEWS = [
  Buckets.settings,
  Buckets.terms,
  Buckets.termSnapshots,
  Buckets.docs,
  Buckets.docSnapshots,
  Buckets.threads,
  Buckets.turns,
  Buckets.turnLogs,
  Buckets.kernels,
] as const;

/**
 * Views of the whole plus, which serves one workspace: services' health, remote sessions and
 * the sync pairs and forwards that belong to them. Their keys carry no workspace id.
 */
const PLUS_VIEWS = [
  Buckets.services,
  Buckets.remoteSessions,
  Buckets.portForwards,
  Buckets.syncPairs,
  Buckets.apps,
] as const;

/** The NATS permissions of the browser's user; `durables` are every service durable's name. */
export function browserPermissions(wsid: string, durables: readonly string[]) {
  const ws = workspaceSubjects(wsid);
  const terms = workspaceTerminalSubjects(wsid);
  const docs = workspaceDocSubjects(wsid);
  const presence = presenceSubjects(wsid);
  // Subjects inside the workspace, as the tail of an API subject: the filter of a consumer
  // or the subject of a direct get.
  const eventTails = EVENT_STREAMS.map((s) => ({ stream: s, tails: [ws.all] }));
  const viewTails = [
    ...WORKSPACE_VIEWS.map((b) => ({
      stream: bucketStream(b),
      tails: [`$KV.${b}.${wsid}`, `$KV.${b}.${wsid}.>`],
    })),
    ...PLUS_VIEWS.map((b) => ({ stream: bucketStream(b), tails: [`$KV.${b}.>`] })),
  ];
  const readable = [...eventTails, ...viewTails];
  const api = "$JS.API";
  const deny = durables.flatMap((d) => {
    validateToken(d, "durable name");
    return [
      `${api}.CONSUMER.CREATE.*.${d}`,
      `${api}.CONSUMER.CREATE.*.${d}.>`,
      `${api}.CONSUMER.DELETE.*.${d}`,
      `${api}.CONSUMER.MSG.NEXT.*.${d}`,
    ];
  });
  return {
    publish: {
      allow: [
        ws.commands,
        ws.requests,
        ws.reads,
        // Keystrokes, resizes and presence of its terminals: core NATS, never stored.
        terms.input,
        terms.resize,
        terms.viewer,
        // Cursors and selections in documents: core NATS, never stored.
        docs.presence,
        // Who has the workspace open, and where: core NATS, never stored.
        presence.page(PLUS_ACCOUNT),
        `${api}.INFO`,
        ...readable.map((r) => `${api}.STREAM.INFO.${r.stream}`),
        // The newest output chunk's sequence of a terminal (the body names the subject).
        `${api}.STREAM.MSG.GET.${Streams.WS_TERM}`,
        ...viewTails.flatMap((r) => r.tails.map((t) => `${api}.DIRECT.GET.${r.stream}.${t}`)),
        ...readable.flatMap((r) => r.tails.map((t) => `${api}.CONSUMER.CREATE.${r.stream}.*.${t}`)),
        ...readable.flatMap((r) => [
          `${api}.CONSUMER.INFO.${r.stream}.*`,
          `${api}.CONSUMER.DELETE.${r.stream}.*`,
          `${api}.CONSUMER.MSG.NEXT.${r.stream}.*`,
          // Flow control of the push consumers KV watches use.
          `$JS.FC.${r.stream}.>`,
        ]),
      ],
      deny: [`${api}.CONSUMER.DURABLE.CREATE.>`, ...deny],
    },
    subscribe: { allow: [`${BrowserInbox}.>`, ws.feeds, docs.presence, presence.all] },
  };
}
