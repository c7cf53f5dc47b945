// Node.js `ws` (bench/node/package.json; `make -C bench node` installs it)
// for the same workloads.
//
// Usage: node node_ws.mjs --workload W1..W5|W2z|W3z --url ws[s]://HOST:PORT/PATH
//                         [--n N] [--size B] [--warmup N] [--ca FILE]
//
// One event loop, everything in the 'open' and 'message' handlers. W3/W3z
// call send() n times in a row (ws queues what the socket does not take).
// permessage-deflate is offered on W2z/W3z only ({threshold: 0}: ws would
// otherwise leave messages under 1 KiB uncompressed); the other workloads
// use perMessageDeflate: false. Text messages are turned into strings, as a
// program would; W2/W2z read every message's first and last byte. wss://
// trusts the --ca file only. Without the optional native add-ons
// (bufferutil, utf-8-validate): ws' JavaScript masking and UTF-8 checks.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(new URL("../node/package.json", import.meta.url));
const WebSocket = require("ws");

const DEFAULTS = {
  W1: [20000, 32],
  W2: [1000000, 64],
  W3: [1000000, 64],
  W4: [64, 16 << 20],
  W5: [2000, 32],
  W2z: [500000, 0],
  W3z: [500000, 0],
};

function parse() {
  const a = { warmup: 1000 };
  const argv = process.argv.slice(2);
  for (let i = 0; i + 1 < argv.length; i += 2) a[argv[i].replace(/^--/, "")] = argv[i + 1];
  if (!a.workload || !a.url || !DEFAULTS[a.workload]) fail(a.workload || "", "--workload and --url are required");
  const [n, size] = DEFAULTS[a.workload];
  a.n = a.n !== undefined ? Number(a.n) : n;
  a.size = a.size !== undefined ? Number(a.size) : size;
  a.warmup = Number(a.warmup);
  a.compressed = a.workload.endsWith("z");
  return a;
}

function fail(workload, msg) {
  process.stdout.write(JSON.stringify({ workload, ok: false, error: String(msg) }) + "\n", () => process.exit(1));
}

function report(workload, fields) {
  process.stdout.write(JSON.stringify({ workload, ok: true, ...fields }) + "\n", () => process.exit(0));
}

const A = parse();
const now = () => process.hrtime.bigint();
const secs = (t0, t1) => Number(t1 - t0) / 1e9;

function options() {
  const o = { maxPayload: 128 << 20, perMessageDeflate: A.compressed ? { threshold: 0 } : false };
  if (A.url.startsWith("wss://")) o.ca = readFileSync(A.ca);
  return o;
}

function open(onMessage, onOpen) {
  const ws = new WebSocket(A.url, options());
  ws.on("error", (e) => fail(A.workload, `error: ${e.message}`));
  ws.on("close", (code, reason) => {
    if (!ws.done) fail(A.workload, `closed early: ${code} ${reason}`);
  });
  if (onOpen) ws.on("open", () => onOpen(ws));
  ws.on("message", (data, isBinary) => onMessage(ws, data, isBinary));
  return ws;
}

function finish(ws, workload, fields) {
  ws.done = true;
  ws.terminate();
  report(workload, fields);
}

const w1Text = (i) => String(i).padStart(32, "0");

function rssKib() {
  const m = /VmRSS:\s*(\d+)/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) : 0;
}

const SYMBOLS = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "NFLX"];
const VENUES = ["XNAS", "XNYS", "ARCX", "BATS"];
const NOTES = [
  "limit order from the web client",
  "rebalance of the model portfolio",
  "manual order from the phone desk",
  "algorithmic slice of a larger parent order",
];

// The JSON-like text message i of W2z and W3z (the server and every client
// build the same strings).
function jsonMessage(i) {
  const px = 10000 + ((i * 7919) % 90000);
  const cents = String(px % 100).padStart(2, "0");
  const acct = String((i * 31337) % 100000).padStart(5, "0");
  return (
    `{"id":${i},"type":"order","symbol":"${SYMBOLS[i % 8]}","side":"${i % 3 === 0 ? "sell" : "buy"}",` +
    `"price":${Math.floor(px / 100)}.${cents},"qty":${1 + ((i * 104729) % 5000)},"ts":${1764460800000 + i * 37},` +
    `"venue":"${VENUES[Math.floor(i / 8) % 4]}","account":"ACC-${acct}","note":"${NOTES[Math.floor(i / 3) % 4]}"}`
  );
}

function w1() {
  const samples = new Array(A.n);
  let i = 0;
  let text = w1Text(0);
  let sentAt = 0n;
  const send = (ws) => {
    text = w1Text(i);
    sentAt = now();
    ws.send(text);
  };
  open(
    (ws, data, isBinary) => {
      const t = now();
      if (isBinary || data.toString() !== text) return fail("W1", `bad echo for round trip ${i}`);
      if (i >= A.warmup) samples[i - A.warmup] = Number(t - sentAt);
      if (++i === A.warmup + A.n) {
        const s = samples.sort((x, y) => x - y);
        const mean = s.reduce((x, y) => x + y, 0) / s.length;
        return finish(ws, "W1", {
          n: A.n,
          p50_us: s[Math.floor(s.length * 0.5)] / 1e3,
          p99_us: s[Math.min(Math.floor(s.length * 0.99), s.length - 1)] / 1e3,
          mean_us: mean / 1e3,
        });
      }
      send(ws);
    },
    (ws) => send(ws),
  );
}

// W2 (binary) and W2z (text): every message's first and last byte is read.
function w2() {
  const text = A.compressed;
  let count = 0, bytes = 0, check = 0;
  let t1 = 0n;
  const t0 = now();
  open((ws, data, isBinary) => {
    if (count === A.n) {
      const trailer = data.toString();
      const want = `END ${count} ${bytes} ${check}`;
      if (trailer.split(" ").slice(0, 4).join(" ") !== want)
        return fail(A.workload, `received '${want}', the server sent '${trailer}'`);
      return finish(ws, A.workload, {
        n: A.n,
        seconds: secs(t0, t1),
        msgs_per_s: A.n / secs(t0, t1),
        trailer,
        extensions: ws.extensions,
      });
    }
    if (text) {
      if (isBinary) return fail(A.workload, "binary message");
      const s = data.toString();
      check += s.charCodeAt(0) + s.charCodeAt(s.length - 1);
      bytes += s.length;
    } else {
      if (!isBinary) return fail(A.workload, "text message");
      check += data[0] + data[data.length - 1];
      bytes += data.length;
    }
    if (++count === A.n) t1 = now();
  });
}

function w3(z) {
  let t0 = 0n;
  open(
    (ws, data, isBinary) => {
      const t1 = now();
      const reply = data.toString();
      if (isBinary) return fail(A.workload, "binary reply");
      if (z) {
        if (reply.split(" ")[0] !== String(A.n)) return fail("W3z", `server counted '${reply}', expected ${A.n}`);
        return finish(ws, "W3z", { n: A.n, seconds: secs(t0, t1), msgs_per_s: A.n / secs(t0, t1), reply, extensions: ws.extensions });
      }
      const want = `${A.n} ${A.n * A.size}`;
      if (reply !== want) return fail("W3", `server counted '${reply}', expected '${want}'`);
      finish(ws, "W3", { n: A.n, seconds: secs(t0, t1), msgs_per_s: A.n / secs(t0, t1) });
    },
    (ws) => {
      if (z) {
        const pool = Array.from({ length: 4096 }, (_, i) => jsonMessage(i));
        t0 = now();
        for (let i = 0; i < A.n; i++) ws.send(pool[i & 4095]);
      } else {
        const payload = Buffer.alloc(A.size, 0xa5);
        t0 = now();
        for (let i = 0; i < A.n; i++) ws.send(payload);
      }
    },
  );
}

function w4() {
  const payloads = [0, 1, 2, 3].map((k) => Buffer.alloc(A.size, 48 + k));
  let i = 0;
  let t0 = 0n;
  open(
    (ws, data, isBinary) => {
      const want = 48 + (i % 4);
      if (!isBinary || data.length !== A.size || data[0] !== want || data[A.size >> 1] !== want || data[A.size - 1] !== want)
        return fail("W4", `bad echo ${i}`);
      if (++i === A.n) {
        const s = secs(t0, now());
        return finish(ws, "W4", { n: A.n, seconds: s, mib_per_s: (A.n * A.size) / 1048576 / s });
      }
      ws.send(payloads[i % 4]);
    },
    (ws) => {
      t0 = now();
      ws.send(payloads[0]);
    },
  );
}

function w5() {
  const text = w1Text(1);
  let target = 1, opened = 0, echoed = 0;
  let t0 = 0n, tOpen = 0n, rss0 = 0;
  let socks = [];
  const onOpen = () => {
    if (++opened === target) {
      tOpen = now();
      for (const ws of socks) ws.send(text);
    }
  };
  const onMessage = (ws, data) => {
    if (data.toString() !== text) return fail("W5", "bad echo");
    if (++echoed < target) return;
    if (target === 1) {
      // The warm-up connection is done: open the n at once.
      target = A.n;
      opened = echoed = 0;
      rss0 = rssKib();
      t0 = now();
      socks = [];
      for (let k = 0; k < A.n; k++) socks.push(open(onMessage, onOpen));
      return;
    }
    const rss1 = rssKib();
    for (const s of socks) s.done = true;
    report("W5", {
      n: A.n,
      open_seconds: secs(t0, tOpen),
      kib_per_conn: (rss1 - rss0) / A.n,
      rss_before_kib: rss0,
      rss_after_kib: rss1,
    });
  };
  const warm = open(onMessage, onOpen);
  warm.done = true;
  socks = [warm];
}

setTimeout(() => fail(A.workload, "timed out"), 300000).unref();
({ W1: w1, W2: w2, W2z: w2, W3: () => w3(false), W3z: () => w3(true), W4: w4, W5: w5 })[A.workload]();
