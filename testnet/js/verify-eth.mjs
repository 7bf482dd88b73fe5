// Checks an Ethereum signature with ethers (an implementation outside this repository).
// Usage: node verify-eth.mjs personal <message-text> <65-byte signature hex>
// Prints the recovered address.
import { verifyMessage } from "ethers";

const [kind, message, signature] = process.argv.slice(2);
if (kind !== "personal" || !message || !signature) {
  console.error("usage: node verify-eth.mjs personal <message> <signature>");
  process.exit(2);
}
console.log(verifyMessage(message, signature));
