// @ts-check
// Places one order on a Janus account with only a NATS library, follows it until it is filled,
// then prints the account's position. See README.md.
//
//   node index.mjs --server nats://127.0.0.1:14222 --creds ../../.janus/nats/demo-client.nk \
//        --account ib-1 --symbol AAPL --side BUY --qty 10 [--format json|msgpack] [--json]

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { decode, encode } from "@msgpack/msgpack";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, nkeyAuthenticator } from "@nats-io/transport-node";

import {
  EVENTS_STREAM, NOT_STARTED, follow, identityOf, intentMsgId, intentSubject, orderEventsSubject, orderIntent,
  positionSubject, qtyOf,
} from "./janus.mjs";

const { values: opt } = parseArgs({
  options: {
    server: { type: "string", default: process.env.JANUS_NATS_URL ?? "nats://127.0.0.1:14222" },
    creds: { type: "string", default: ".janus/nats/demo-client.nk" },
    account: { type: "string", default: "ib-1" },
    symbol: { type: "string", default: "AAPL" },
    side: { type: "string", default: "BUY" },
    qty: { type: "string", default: "1" },
    type: { type: "string", default: "MARKET" },
    limit: { type: "string" },
    format: { type: "string", default: "json" }, // how the intent is sent: json | msgpack
    timeout: { type: "string", default: "60" },
    json: { type: "boolean", default: false }, // one JSON object on stdout at the end
  },
});

/** @param {string} text */
const say = (text) => (opt.json ? process.stderr : process.stdout).write(`${text}\n`);

/** @param {string} text @returns {never} */
function fail(text) {
  process.stderr.write(`error: ${text}\n`);
  process.exit(1);
}

/** @param {Uint8Array} data */
const fromMsgpack = (data) => /** @type {any} */ (decode(data)); // events are MessagePack only

async function main() {
  const creds = /** @type {string} */ (opt.creds);
  const identity = identityOf(creds);
  // The seed is read from its file, never passed on a command line: it is the identity's secret.
  const seed = new TextEncoder().encode(readFileSync(creds, "utf8").trim());
  const nc = await connect({
    servers: String(opt.server).split(","),
    name: `ts-client-${identity}`,
    authenticator: nkeyAuthenticator(seed),
    // Every identity reads replies (JetStream acks, direct gets) on its own inbox only.
    inboxPrefix: `_INBOX.${identity}`,
  });
  const js = jetstream(nc);
  // checkAPI: false, because a client identity may not ask for the account's JetStream info.
  const jsm = await jetstreamManager(nc, { checkAPI: false });

  const account = String(opt.account);
  const qty = Number(opt.qty);
  const timeoutMs = Number(opt.timeout) * 1000;
  const timer = setTimeout(() => fail(`no outcome within ${opt.timeout}s`), timeoutMs);

  /** The account's last position snapshot, by a JetStream direct get (null: none yet). */
  async function lastPosition() {
    const stored = await jsm.direct.getMessage(EVENTS_STREAM, { last_by_subj: positionSubject(account) });
    return stored ? fromMsgpack(stored.data) : null;
  }

  // Listen before sending, so no event of the order can be missed.
  const orderEvents = nc.subscribe(orderEventsSubject(account));
  const positions = nc.subscribe(positionSubject(account));
  const before = await lastPosition();

  const intent = orderIntent({
    account, symbol: String(opt.symbol), side: /** @type {any} */ (opt.side), qty,
    type: /** @type {any} */ (opt.type), limitPrice: opt.limit === undefined ? undefined : Number(opt.limit),
    bigintTs: opt.format === "msgpack",
  });
  const h = headers();
  let payload;
  if (opt.format === "json") {
    h.set("Content-Type", "application/json"); // the router decodes JSON intents with the same types
    payload = new TextEncoder().encode(JSON.stringify(intent));
  } else {
    payload = encode(intent, { useBigInt64: true });
  }
  const ack = await js.publish(intentSubject(account), payload,
    { msgID: intentMsgId(account, intent.intent_id), headers: h });
  say(`sent ${intent.side} ${intent.qty} ${intent.symbol} on ${account} as ${opt.format} ` +
      `(intent ${intent.intent_id}, INTENTS seq ${ack.seq})`);

  let state = NOT_STARTED;
  for await (const msg of orderEvents) {
    const event = fromMsgpack(msg.data);
    if (event.intent_id !== intent.intent_id) continue;
    say(`  ${event.kind}${event.status ? ` ${event.status}` : ""}${event.kind === "OrderFilled" ? ` ${event.qty} @ ${event.price}` : ""}` +
        `${event.reason ? ` ${event.reason}: ${event.message ?? ""}` : ""}`);
    state = follow(state, event, qty);
    if (state.done) break;
  }
  orderEvents.unsubscribe();
  if (!state.filled) fail(`the order did not fill: ${state.reason ?? "the connection closed first"}`);

  // The position once the fill shows in it: the last snapshot stored, else the next ones
  // published (the gateway publishes a snapshot shortly after each fill).
  const signed = intent.side === "BUY" ? state.filledQty : -state.filledQty;
  const expected = qtyOf(before, intent.symbol) + signed;
  let position = await lastPosition();
  if (qtyOf(position, intent.symbol) !== expected) {
    for await (const msg of positions) {
      position = fromMsgpack(msg.data);
      if (qtyOf(position, intent.symbol) === expected) break;
    }
  }
  positions.unsubscribe();
  clearTimeout(timer);

  const avgPrice = state.notional / state.filledQty;
  say(`filled ${state.filledQty} ${intent.symbol} at ${avgPrice}`);
  say(`position of ${account}:`);
  for (const p of position?.positions ?? []) say(`  ${p.symbol} ${p.qty} @ ${p.avg_cost}`);
  if (opt.json) {
    process.stdout.write(`${JSON.stringify({
      intent_id: intent.intent_id, filled: state.filledQty, avg_price: avgPrice, account,
      positions: position?.positions ?? [],
    })}\n`);
  }
  await nc.drain();
}

// Whatever fails (refused credentials, a subject this identity may not use) ends the run with
// the server's own words, not a stack trace.
main().catch((err) => fail(err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message)
  : String(err)));
