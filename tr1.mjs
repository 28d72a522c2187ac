import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, AckPolicy } from "@nats-io/jetstream";
const nc = await connect({ servers: "127.0.0.1:14334" });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);
if (process.argv[2] === "fill") {
  await jsm.streams.add({ name: "S", subjects: ["s.>"] });
  await jsm.consumers.add("S", { durable_name: "d", ack_policy: AckPolicy.Explicit });
  for (let i = 1; i <= 500; i++) await js.publish("s.x", JSON.stringify({ i, pad: "x".repeat(200) }));
  const c = await js.consumers.get("S", "d");
  const it = await c.consume();
  let n = 0;
  for await (const m of it) { m.ack(); if (++n === 500) break; }
  await new Promise(r => setTimeout(r, 300));
}
const si = await jsm.streams.info("S");
console.log("stream", JSON.stringify(si.state));
const ci = await jsm.consumers.info("S", "d");
console.log("consumer delivered", JSON.stringify(ci.delivered), "ack_floor", JSON.stringify(ci.ack_floor), "pending", ci.num_pending);
await nc.close();
