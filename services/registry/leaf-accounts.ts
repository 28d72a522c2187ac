/**
 * What a joined host's leaf node can reach on the control plane, as nats-server accounts.
 * Each set of leaf credentials logs into an account of its own; nothing crosses between it and
 * the control plane's account but what one exports and the other imports, and nothing at all
 * between two hosts' accounts. Accounts, not user permissions: nats-server before 2.14 does not
 * check a leaf node's permissions on the messages it sends (a hand-made leaf could send any
 * subject), and it does not apply a reload's permissions to leaf nodes already connected.
 *
 * - The control plane imports from host `h` the services `hostcmd.h`, `hostcmd.h.>` (its
 *   commands: answered with progress lines, then the answer, for as long as 15 minutes) and
 *   `$JS.host-h.API.>` (its JetStream, request/reply only: reading its views),
 *   and the streams `hostbeat.h` and `coresledger.h` (its heartbeats and ledger requests).
 *   Replies to the control plane's requests go back by nats-server's service import.
 * - Host `h` imports the stream `_HI.h.>`: the answers to its ledger requests (its
 *   connections use that inbox prefix).
 *
 * Each credential has its own account name, so replacing or revoking credentials leaves a
 * leaf still connected with the old ones in an account that nothing imports from or exports
 * to. Pure.
 */
import { AllHosts, hostDomain, hostSubjects } from "../../shared/subjects.js";
import type { NatsAccounts, NatsExport, NatsImport } from "../runtime/nats-server.js";

/** The control plane's own account (services, operators, joining hosts). */
export const CONTROL_PLANE_ACCOUNT = "CONTROL_PLANE";

export interface LeafLogin {
  hostId: string;
  /** The account of these credentials: `host_<hostId>_<credential id>`. */
  account: string;
  user: string;
  password: string;
}

/** The account name of one set of leaf credentials of host `hostId`. */
export function leafAccountName(hostId: string, credentialId: string): string {
  return `host_${hostId}_${credentialId}`;
}

/** Commands may answer with progress first, and run as long as an image import. */
const COMMAND_ANSWERS = { response_type: "stream", response_threshold: "15m" } as const;

/** What host `hostId`'s account offers the control plane. */
function hostOffers(hostId: string): { services: NatsExport[]; streams: string[] } {
  const h = hostSubjects(hostId);
  return {
    services: [
      { service: h.command, ...COMMAND_ANSWERS },
      { service: `${h.command}.>`, ...COMMAND_ANSWERS },
      { service: `$JS.${hostDomain(hostId)}.API.>` },
    ],
    streams: [h.beat, h.ledger],
  };
}

/** The control plane's account and one account per leaf login. */
export function leafAccounts(leafs: readonly LeafLogin[]): NatsAccounts {
  const imports: NatsImport[] = [];
  const others: NatsAccounts["others"] = {};
  for (const l of leafs) {
    const offers = hostOffers(l.hostId);
    const exports: NatsExport[] = [
      ...offers.services,
      ...offers.streams.map((stream) => ({ stream })),
    ];
    imports.push(
      ...offers.services.map((e) => ({
        service: { account: l.account, subject: (e as { service: string }).service },
      })),
      ...offers.streams.map((subject) => ({ stream: { account: l.account, subject } })),
    );
    others[l.account] = {
      users: [{ user: l.user, password: l.password }],
      exports,
      imports: [
        {
          stream: {
            account: CONTROL_PLANE_ACCOUNT,
            subject: `${hostSubjects(l.hostId).inbox}.>`,
          },
        },
      ],
    };
  }
  return {
    main: { name: CONTROL_PLANE_ACCOUNT, exports: [{ stream: AllHosts.inboxes }], imports },
    others,
  };
}
