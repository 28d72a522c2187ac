import { render } from "solid-js/web";
import { useInterpretedChecks } from "../../shared/envelope.js";
import { nonceStyleElements } from "./lib/style-nonce.js";
import { Root } from "./root.js";
import "./styles.css";

// The page's content policy allows no generated code (no eval), and style elements only with
// this page's nonce.
useInterpretedChecks();
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
