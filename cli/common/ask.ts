/**
 * Asks a person a question in their terminal: the answer is echoed, or (secret) not, as a
 * password prompt does. Resolves with undefined on Ctrl-C, Ctrl-D or a closed terminal.
 */
export function askInTerminal(
  prompt: string,
  secret: boolean,
  io: { stdin: NodeJS.ReadStream; stderr: NodeJS.WriteStream } = process,
): Promise<string | undefined> {
  const { stdin, stderr } = io;
  return new Promise((resolve) => {
    let answer = "";
    const wasRaw = stdin.isRaw;
    stderr.write(prompt.endsWith(" ") || prompt.endsWith("\n") ? prompt : `${prompt} `);
    stdin.setRawMode?.(true);
    stdin.setEncoding("utf8");
    const done = (a: string | undefined) => {
      stdin.off("data", onData);
      stdin.off("end", onEnd);
      stdin.setRawMode?.(wasRaw);
      stdin.pause();
      stderr.write("\n");
      resolve(a);
    };
    const onEnd = () => done(undefined);
    const onData = (chunk: string) => {
      for (const c of chunk) {
        if (c === "\r" || c === "\n") return done(answer);
        if (c === "\u0003" || c === "\u0004") return done(undefined);
        if (c === "\u007f" || c === "\b") {
          if (answer.length > 0) {
            answer = answer.slice(0, -1);
            if (!secret) stderr.write("\b \b");
          }
          continue;
        }
        if (c < " ") continue;
        answer += c;
        if (!secret) stderr.write(c);
      }
    };
    stdin.on("data", onData);
    stdin.on("end", onEnd);
    stdin.resume();
  });
}
