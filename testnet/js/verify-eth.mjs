// Checks an Ethereum signature with ethers (an implementation outside this repository).
// Usage: node verify-eth.mjs personal <message text> <65-byte signature hex>
//        node verify-eth.mjs typed <EIP-712 JSON> <65-byte signature hex>
// Prints the recovered address.
import { verifyMessage, verifyTypedData } from "ethers";

const [kind, data, signature] = process.argv.slice(2);
if (kind === "personal" && data && signature) {
  console.log(verifyMessage(data, signature));
} else if (kind === "typed" && data && signature) {
  const doc = JSON.parse(data);
  const types = { ...doc.types };
  delete types.EIP712Domain;
  console.log(verifyTypedData(doc.domain, types, doc.message, signature));
} else {
  console.error("usage: node verify-eth.mjs personal|typed <data> <signature>");
  process.exit(2);
}
