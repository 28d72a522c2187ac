import { spawn } from "node:child_process";

/** Opens `url` in the desktop's browser; false when there is no way to. The URL goes to argv of the opener only. */
export function openBrowser(url: string): Promise<boolean> {
  const opener =
    process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  return new Promise((resolve) => {
    try {
      const child = spawn(opener, [url], { stdio: "ignore", detached: true });
      child.once("error", () => resolve(false));
      child.once("spawn", () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}
