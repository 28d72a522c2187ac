/**
 * The app decider: an app (one per port) is started, stopped, restarted and removed. Whether
 * its process still lives comes from the service (an app that exited by itself may be started
 * again); bad input is refused here, so nothing is stored and nothing starts.
 */
import {
  type AppConfig,
  type AppConfigEvent,
  AppPrograms,
  checkAppCommand,
  parseAppPort,
  type RemoveApp,
  type RestartApp,
  type StartApp,
  type StopApp,
} from "../../shared/apps.js";
import type { CommandOf } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { CocalcError } from "../../shared/errors.js";

export type AppCommand =
  | CommandOf<typeof StartApp>
  | CommandOf<typeof StopApp>
  | CommandOf<typeof RestartApp>
  | CommandOf<typeof RemoveApp>;

export type AppDecided = {
  [E in AppConfigEvent as E["type"]]: Pick<E, "type" | "data">;
}[AppConfigEvent["type"]];

export type AppState =
  | { status: "none" }
  | { status: "started"; config: AppConfig }
  | { status: "stopped"; config: AppConfig };

export interface AppDeciderContext {
  /** Does the process of app `app` live (spawned, not yet exited)? */
  alive(app: string): boolean;
  /** The directory an app starts in when none is given. */
  home: string;
  /** Apps open at an origin of their own (a launchpad workspace's): every kind from `/`. */
  origin?: boolean;
}

/** The settings of a StartApp (throws ERR_APP_* on bad input); the port must be given by now. */
export function configOf(
  data: CommandOf<typeof StartApp>["data"],
  home: string,
  origin = false,
): AppConfig {
  const port = parseAppPort(data.port);
  const cwd = data.cwd === undefined || data.cwd.trim() === "" ? home : data.cwd;
  if (!cwd.startsWith("/") || cwd.includes("\0"))
    throw new CocalcError(
      "ERR_APP_CWD",
      `an app's directory must be an absolute path, not ${JSON.stringify(cwd)}`,
    );
  const mount = origin
    ? "origin"
    : data.kind === "command"
      ? (data.mount ?? "proxy")
      : AppPrograms[data.kind].mount;
  return {
    kind: data.kind,
    port,
    cwd,
    mount,
    ...(data.kind === "command" && { command: checkAppCommand(data.command) }),
  };
}

const notFound = (app: string) => new CocalcError("ERR_APP_NOT_FOUND", `no app ${app}`);

export function appDecider(ctx: AppDeciderContext): Decider<AppCommand, AppDecided, AppState> {
  return {
    initialState: () => ({ status: "none" }),

    decide(command, state) {
      switch (command.type) {
        case "StartApp": {
          const config = configOf(command.data, ctx.home, ctx.origin);
          const app = `a${config.port}`;
          if (state.status === "started" && ctx.alive(app))
            throw new CocalcError(
              "ERR_APP_RUNNING",
              `an app already runs on port ${config.port}: stop it first or restart it`,
              { app },
            );
          return [{ type: "AppStarted", data: config }];
        }
        case "StopApp":
          if (state.status !== "started") throw notFound(command.data.app);
          return [{ type: "AppStopped", data: { reason: "stopped by the user" } }];
        case "RestartApp":
          if (state.status === "none") throw notFound(command.data.app);
          return [
            ...(state.status === "started"
              ? [{ type: "AppStopped" as const, data: { reason: "restarted by the user" } }]
              : []),
            { type: "AppStarted", data: state.config },
          ];
        case "RemoveApp":
          if (state.status === "none") throw notFound(command.data.app);
          return [
            ...(state.status === "started"
              ? [{ type: "AppStopped" as const, data: { reason: "removed by the user" } }]
              : []),
            { type: "AppRemoved", data: {} },
          ];
        default: {
          const never: never = command;
          throw new Error(`unhandled command ${(never as { type: string }).type}`);
        }
      }
    },

    evolve(state, event) {
      switch (event.type) {
        case "AppStarted":
          return { status: "started", config: event.data };
        case "AppStopped":
          return state.status === "none" ? state : { status: "stopped", config: state.config };
        case "AppRemoved":
          return { status: "none" };
        default: {
          const never: never = event;
          throw new Error(`unhandled event ${(never as { type: string }).type}`);
        }
      }
    },
  };
}
