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
render(() => <Root />, mount);
