import { chromium } from "playwright-core";

const [base, out] = process.argv.slice(2);
const b = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
const p = await b.newPage();
p.on("console", (m) => console.log("console:", m.type(), m.text()));
p.on("pageerror", (e) => console.log("pageerror:", e.message));
p.on("websocket", (ws) => {
  ws.on("framereceived", (f) => console.log("recv:", String(f.payload).slice(0, 300)));
  ws.on("framesent", (f) => console.log("sent:", String(f.payload).slice(0, 200)));
  ws.on("close", () => console.log("ws closed"));
});
await p.goto(base);
await p.getByTestId("hub-email").fill("admin2@example.com");
await p.getByTestId("hub-password").fill("the admin's long password");
await p.getByRole("button", { name: "Sign in" }).click();
await p.getByTestId("hub-dashboard").waitFor({ timeout: 30000 });
await p.waitForTimeout(4000);

await p.screenshot({ path: out, fullPage: true });
console.log(await p.getByTestId("hub-workspaces").innerText());
await b.close();
