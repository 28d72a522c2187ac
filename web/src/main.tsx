import { render } from "solid-js/web";
import { useAheadOfTimeChecks } from "../../shared/envelope.js";
import { compiledChecks } from "./generated/event-checks.js";
import { nonceStyleElements } from "./lib/style-nonce.js";
import { Root } from "./root.js";
import "./styles.css";

// The page's content policy allows no generated code (no eval): event checks come compiled
// ahead of time; style elements carry this page's nonce.
useAheadOfTimeChecks(compiledChecks);
nonceStyleElements();

const mount = document.getElementById("root");
if (!mount) throw new Error("index.html has no #root element");
// The server says which product it is: a plus workspace, or a launchpad hub.
const product = document.querySelector<HTMLMetaElement>('meta[name="cocalc-product"]')?.content;
if (product === "hub") {
  void import("./hub/hub-root.js").then(({ HubRoot }) => render(() => <HubRoot />, mount));
} else {
  render(() => <Root />, mount);
}
