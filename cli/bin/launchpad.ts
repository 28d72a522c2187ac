#!/usr/bin/env node
/** dist/bundle/launchpad.js, the `cocalc-launchpad` command: runs cli/launchpad/main.ts as bundled. */
import { runBundled } from "./load-bundled.js";

runBundled("launchpad-main.js");
