// A Solana JSON-RPC facade over LiteSVM, so tests run our transactions in the real Solana
// runtime (no validator can be installed here). Serves the subset the node uses:
// getLatestBlockhash, sendTransaction (base64), getSignatureStatuses, getBalance,
// requestAirdrop, getGenesisHash, getSlot. Usage: node solana-rpc.mjs [port]  (0 = any);
// prints "listening <port>" when ready.
import http from "node:http";
import { LiteSVM, FailedTransactionMetadata } from "litesvm";
import { address, getTransactionDecoder, getBase58Decoder, lamports } from "@solana/kit";

const svm = new LiteSVM();
const statuses = new Map(); // signature -> { slot, err }
let slot = 1n;
const b58 = getBase58Decoder();

function fail(code, message) {
  const e = new Error(message);
  e.code = code;
  return e;
}

const methods = {
  getGenesisHash: () => "litesvm",
  getSlot: () => Number(slot),
  getLatestBlockhash: () => ({
    context: { slot: Number(slot) },
    value: { blockhash: svm.latestBlockhash(), lastValidBlockHeight: Number(slot) + 150 },
  }),
  getBalance: ([addr]) => ({ context: { slot: Number(slot) }, value: Number(svm.getBalance(address(addr)) ?? 0n) }),
  requestAirdrop: ([addr, amount]) => {
    const res = svm.airdrop(address(addr), lamports(BigInt(amount)));
    if (!res || res instanceof FailedTransactionMetadata) throw fail(-32003, `airdrop failed: ${res}`);
    const sig = b58.decode(res.signature());
    statuses.set(sig, { slot: Number(slot), err: null });
    return sig;
  },
  sendTransaction: ([encoded, opts]) => {
    if ((opts?.encoding ?? "base58") !== "base64") throw fail(-32602, "only base64 encoding is supported");
    let tx;
    try {
      tx = getTransactionDecoder().decode(Buffer.from(encoded, "base64"));
    } catch (e) {
      throw fail(-32602, `failed to deserialize transaction: ${e.message}`);
    }
    const res = svm.sendTransaction(tx);
    slot += 1n;
    if (res instanceof FailedTransactionMetadata) {
      throw fail(-32002, `Transaction simulation failed: ${res.err()}`);
    }
    const sig = b58.decode(res.signature());
    statuses.set(sig, { slot: Number(slot), err: null });
    return sig;
  },
  getSignatureStatuses: ([sigs]) => ({
    context: { slot: Number(slot) },
    value: sigs.map((s) => {
      const st = statuses.get(s);
      return st ? { slot: st.slot, confirmations: null, err: st.err, confirmationStatus: "finalized" } : null;
    }),
  }),
};

const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => {
    body += c;
    if (body.length > 1 << 20) req.destroy();
  });
  req.on("end", () => {
    let id = null;
    let reply;
    try {
      const call = JSON.parse(body);
      id = call.id ?? null;
      const m = methods[call.method];
      if (!m) throw fail(-32601, `method not found: ${call.method}`);
      reply = { jsonrpc: "2.0", id, result: m(call.params ?? []) };
    } catch (e) {
      reply = { jsonrpc: "2.0", id, error: { code: e.code ?? -32603, message: String(e.message) } };
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(reply));
  });
});

server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
