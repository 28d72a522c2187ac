/** The launchpad hub's NATS side: keys, operator-mode nats-server, per-user credentials. */
export {
  DEFAULT_USER_TTL_S,
  HubNatsAuth,
  type HubNatsAuthOptions,
  MAX_USER_TTL_S,
  type MintedUser,
  type MintRequest,
  type UserCredentials,
} from "./nats-auth.js";
export { type HubNatsConfig, renderHubNatsConfig } from "./nats-config.js";
export { HubNatsServer, startHubNatsServer } from "./nats-server.js";
