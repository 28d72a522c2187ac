/** Gives the workspace's connection to stores, and only its state to components. */
import { type Accessor, createContext, type JSX, useContext } from "solid-js";
import type { ConnectionState, WorkspaceConnection } from "../lib/connection.js";

const ConnectionContext = createContext<WorkspaceConnection>();

export function ConnectionProvider(props: {
  connection: WorkspaceConnection;
  children: JSX.Element;
}) {
  return (
    <ConnectionContext.Provider value={props.connection}>
      {props.children}
    </ConnectionContext.Provider>
  );
}

/** For stores: the connection they read views and send commands through. */
export function useConnection(): WorkspaceConnection {
  const conn = useContext(ConnectionContext);
  if (!conn) throw new Error("useConnection called outside <ConnectionProvider>");
  return conn;
}

/** For components: what the connection is doing, nothing to act on. */
export function useConnectionState(): {
  state: Accessor<ConnectionState>;
  problem: Accessor<string | undefined>;
  wsid: string;
  version: string;
  /** A launchpad workspace opened through the hub. */
  hosted: boolean;
  /** The title the server gives the workspace (a hosted one's is the hub's), if any. */
  title: Accessor<string | undefined>;
  /** This page may look, not change anything (a viewer). */
  readOnly: Accessor<boolean>;
} {
  const conn = useConnection();
  return {
    state: conn.state,
    problem: conn.problem,
    wsid: conn.wsid,
    version: conn.version,
    hosted: conn.hosted === true,
    title: () => conn.title,
    readOnly: () => conn.readOnly === true,
  };
}
