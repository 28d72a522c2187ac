export * from "./base64url.js";
export * from "./commands.js";
export * from "./decider.js";
export * from "./envelope.js";
export * from "./errors.js";
export * from "./health.js";
export * from "./subjects.js";
export * from "./workspace.js";
