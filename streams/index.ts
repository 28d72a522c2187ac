export * from "./definitions.js";
export * from "./ensure.js";
