#!/usr/bin/env node
/** dist/bundle/plus.js, the `cocalc-plus` command: runs cli/plus/main.ts as bundled. */
import { runBundled } from "./load-bundled.js";

runBundled("plus-main.js");
