/**
 * Whether a workspace's processes can run now. A container workspace (launchpad) runs only
 * between its start and its stop: services that start processes in it (terminals' shells,
 * agents) or reach its root file system ask first, and wait while it starts.
 */
export interface WorkspaceGate {
  /** Throws ERR_WORKSPACE_STATE ("start the workspace") unless it runs or is starting. */
  check(): Promise<void>;
  /**
   * Resolves once the workspace runs (at once when it does); rejects with ERR_WORKSPACE_STATE
   * when it is not starting, or stops or fails before it runs.
   */
  whenRunning(): Promise<void>;
}
