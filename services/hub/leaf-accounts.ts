/**
 * What a joined host's leaf node can reach on the hub, as NATS accounts (JWT claims). Each set
 * of leaf credentials logs into an account of its own; nothing crosses between it and the
 * hub's account but what one exports and the other imports, and nothing at all between two
 * hosts' accounts. Accounts, not user permissions: nats-server before 2.14 does not check a
 * leaf node's permissions on the messages it sends (a hand-made leaf could send any subject).
 *
 * - The hub's account imports from host `h` the services `hostcmd.h`, `hostcmd.h.>` (its
 *   commands: answered with progress lines, then the answer, for as long as 15 minutes) and
 *   `$JS.host-h.API.>` (its JetStream, request/reply only: reading its views; a pull
 *   consumer's messages are many answers to one request), and the streams `hostbeat.h`,
 *   `coresledger.h`, `hostview.h`, `hostkeys.h` and `hostpipe.h.>` (its heartbeats, ledger
 *   requests, workspace views, requests for the agent API keys of a turn's account, and its
 *   side of the byte pipes the hub's services open: SSH sessions, proxied ports).
 *   Replies to the hub's requests go back by nats-server's service import.
 * - For each workspace placed on `h`, and only those, the hub's account also imports what
 *   its members' browsers use: the services `ws.<wsid>.cmd.<service>` of the workspace's
 *   services on a host (never `cmd.host`: only the hub's fleet asks that, of the host itself;
 *   shared, so the host learns which account sent each command: services/runtime/caller.ts),
 *   `ws.<wsid>.req.*`, `ws.<wsid>.read.*` (what a viewer may ask) and `ws.<wsid>.term.*.*`
 *   (keystrokes, resizes, viewers), and the stream
 *   `ws.<wsid>.feed.>`. So a host reaches the browsers of its own workspaces only, and a
 *   browser's subject permissions (shared/hub-permissions.ts) decide which of those it uses.
 *   Push consumers are not routed (their deliveries are not answers): browsers read views with
 *   pull consumers.
 * - Host `h` imports the stream `_HI.h.>` from the hub's account: the answers to its ledger
 *   and key requests (its connections use that inbox prefix).
 *
 * Each credential has its own account, so replacing or revoking credentials leaves a leaf
 * still connected with the old ones in an account that nothing imports from or exports to.
 * Pure.
 */
import type { Export, Import } from "@nats-io/jwt";
import { HOSTED_SERVICES } from "../../shared/launchpad.js";
import { AllHosts, hostDomain, hostSubjects } from "../../shared/subjects.js";

/** One joined host's leaf account, as the registry keeps it (no secret: a public key). */
export interface LeafAccount {
  hostId: string;
  /** The account's public key ("A…"). */
  account: string;
  /** The registration token the credentials came from. */
  tokenId?: string;
}

/** A workspace placed on a host, as the hub's account imports it. */
export interface Placement {
  wsid: string;
  hostId: string;
}

/** Commands may answer with progress first, and run as long as an image import (ns). */
const COMMAND_ANSWERS = {
  response_type: "Stream",
  response_threshold: 15 * 60 * 1_000_000_000,
} as const;

/** A pull request's messages, and its heartbeats, until it expires (30 s in nats.js). */
const PULL_ANSWERS = {
  response_type: "Stream",
  response_threshold: 2 * 60 * 1_000_000_000,
} as const;

const isCommand = (subject: string) => subject.split(".")[2] === "cmd";

/** What the hub's account takes from a host for one workspace on it: services, then streams. */
function workspaceOffers(wsid: string): { services: string[]; streams: string[] } {
  const ws = `ws.${wsid}`;
  return {
    services: [
      ...HOSTED_SERVICES.map((s) => `${ws}.cmd.${s}`),
      `${ws}.req.*`,
      `${ws}.read.*`,
      `${ws}.term.*.*`,
    ],
    streams: [`${ws}.feed.>`],
  };
}

/** What host `hostId`'s account offers the hub: services, then streams. */
function hostOffers(hostId: string): { services: Export[]; streams: Export[] } {
  const h = hostSubjects(hostId);
  const service = (subject: string, answers = {}): Export => ({
    name: subject,
    subject,
    type: "service",
    ...answers,
  });
  const stream = (subject: string): Export => ({ name: subject, subject, type: "stream" });
  return {
    services: [
      service(h.command, COMMAND_ANSWERS),
      service(`${h.command}.>`, COMMAND_ANSWERS),
      service(`$JS.${hostDomain(hostId)}.API.>`, PULL_ANSWERS),
    ],
    streams: [
      stream(h.beat),
      stream(h.ledger),
      stream(h.views),
      stream(h.agentKeys),
      stream(h.pipesFromHost),
    ],
  };
}

/** The exports and imports of a host's own account, which imports from `hubAccount`. */
export function hostAccountClaims(
  hostId: string,
  hubAccount: string,
): { exports: Export[]; imports: Import[] } {
  const offers = hostOffers(hostId);
  const inbox = `${hostSubjects(hostId).inbox}.>`;
  // Every workspace's, as patterns: the hub imports those of the workspaces placed here.
  const ws = workspaceOffers("*");
  return {
    exports: [
      ...offers.services,
      ...ws.services.map((subject): Export => ({ name: subject, subject, type: "service" })),
      ...offers.streams,
      ...ws.streams.map((subject): Export => ({ name: subject, subject, type: "stream" })),
    ],
    imports: [{ name: inbox, subject: inbox, type: "stream", account: hubAccount }],
  };
}

/**
 * The hub account's part in the hosts' accounts: the inboxes it offers, what it takes (each
 * host's own subjects, and those of the workspaces placed on it).
 */
export function hubAccountClaims(
  leafs: readonly LeafAccount[],
  placements: readonly Placement[] = [],
): {
  exports: Export[];
  imports: Import[];
} {
  const imports: Import[] = [];
  const accountOf = new Map<string, string>();
  for (const l of leafs) {
    accountOf.set(l.hostId, l.account);
    const offers = hostOffers(l.hostId);
    for (const e of [...offers.services, ...offers.streams])
      imports.push({ name: e.subject, subject: e.subject, type: e.type, account: l.account });
  }
  const seen = new Set<string>();
  for (const p of placements) {
    const account = accountOf.get(p.hostId);
    if (account === undefined || seen.has(p.wsid)) continue;
    seen.add(p.wsid);
    const offers = workspaceOffers(p.wsid);
    for (const subject of offers.services)
      imports.push({
        name: subject,
        subject,
        type: "service",
        account,
        // Commands carry who sent them (services/runtime/caller.ts): the events' actor.
        ...(isCommand(subject) && { share: true }),
      });
    for (const subject of offers.streams)
      imports.push({ name: subject, subject, type: "stream", account });
  }
  return {
    exports: [{ name: AllHosts.inboxes, subject: AllHosts.inboxes, type: "stream" }],
    imports,
  };
}
