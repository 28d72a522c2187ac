import { render } from "solid-js/web";
import { Root } from "./root.js";
import "./styles.css";

const mount = document.getElementById("root");
if (!mount) throw new Error("index.html has no #root element");
render(() => <Root />, mount);
