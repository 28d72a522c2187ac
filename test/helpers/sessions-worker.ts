/**
 * A gateway's sessions for crash tests: signs browsers in to the journal in argv[2], one after
 * another until it is killed, printing each credential once its sign-in is acknowledged
 * (`in <credential>`); every third one it also signs out an earlier one (`out <credential>`).
 */
import { BrowserSessions } from "../../services/gateway/browser-sessions.js";

async function main() {
  const sessions = await BrowserSessions.open(process.argv[2]!);
  const kept: string[] = [];
  for (let i = 0; ; i++) {
    const credential = await sessions.create(`browser ${i}`, `account${i % 5}`);
    process.stdout.write(`in ${credential}\n`);
    kept.push(credential);
    if (i % 3 === 2) {
      const gone = kept.shift()!;
      await sessions.revoke(sessions.verify(gone)!);
      process.stdout.write(`out ${gone}\n`);
    }
  }
}

void main();
